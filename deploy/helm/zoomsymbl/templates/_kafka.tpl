{{- /*
Kafka TLS and SASL (kafka.security; docs/kafka-security.md) for every pod that talks to Kafka: the
service Deployments and the topics Job. Literal env values, not the ConfigMap: the topics Job is a
pre-install hook and runs before the release's ConfigMap exists. Whatever it reads (the password
Secret, the CA, the client certificate) must exist before the install.
*/ -}}

{{- define "zoomsymbl.kafkaCaDir" -}}/etc/zoomsymbl/kafka-ca{{- end }}
{{- define "zoomsymbl.kafkaClientDir" -}}/etc/zoomsymbl/kafka-client{{- end }}

{{/* Refuse incomplete or contradictory kafka.security values at render time, naming the keys (root context). */}}
{{- define "zoomsymbl.kafkaSecurityCheck" -}}
{{- $s := .Values.kafka.security -}}
{{- if ne $s.protocol "SASL_SSL" }}
{{- if or $s.username $s.existingSecret $s.users }}
{{- fail (printf "kafka.security.username/existingSecret/users are set but kafka.security.protocol is %s: set it to SASL_SSL" $s.protocol) }}
{{- end }}
{{- end }}
{{- if eq $s.protocol "PLAINTEXT" }}
{{- if or $s.ca.secretName $s.ca.configMapName $s.clientCert.secretName }}
{{- fail "kafka.security.ca/clientCert are set but kafka.security.protocol is PLAINTEXT (no TLS): set it to SSL or SASL_SSL" }}
{{- end }}
{{- end }}
{{- if and $s.ca.secretName $s.ca.configMapName }}
{{- fail "kafka.security.ca: set secretName or configMapName, not both" }}
{{- end }}
{{- end }}

{{/*
The SCRAM user of one component: (dict "root" $ "component" "mixer") -> "username secret key", from
kafka.security.users.<component> when set, else the chart-wide kafka.security.username/existingSecret.
*/}}
{{- define "zoomsymbl.kafkaUser" -}}
{{- $s := .root.Values.kafka.security -}}
{{- $own := index ($s.users | default dict) .component | default dict -}}
{{- $user := $own.username | default $s.username -}}
{{- $secret := $own.existingSecret | default $s.existingSecret -}}
{{- $key := $own.passwordKey | default $s.passwordKey -}}
{{- if or (not $user) (not $secret) }}
{{- fail (printf "kafka.security.protocol SASL_SSL needs a user for %s: kafka.security.username and kafka.security.existingSecret (the Secret with the SCRAM password under kafka.security.passwordKey), or kafka.security.users.%s" .component .component) }}
{{- end }}
{{- printf "%s %s %s" $user $secret $key }}
{{- end }}

{{/* env entries of a container that talks to Kafka: (dict "root" $ "component" "mixer"); the topics Job is "topics". */}}
{{- define "zoomsymbl.kafkaSecurityEnv" -}}
{{- include "zoomsymbl.kafkaSecurityCheck" .root }}
{{- $s := .root.Values.kafka.security -}}
{{- $login := list "" "" "" -}}
{{- if eq $s.protocol "SASL_SSL" }}
{{- $login = splitList " " (include "zoomsymbl.kafkaUser" .) -}}
{{- end }}
{{- $ca := "" -}}
{{- if or $s.ca.secretName $s.ca.configMapName }}
{{- $ca = printf "%s/ca.crt" (include "zoomsymbl.kafkaCaDir" .root) -}}
{{- end }}
{{- $cert := "" -}}
{{- $key := "" -}}
{{- if $s.clientCert.secretName }}
{{- $cert = printf "%s/tls.crt" (include "zoomsymbl.kafkaClientDir" .root) -}}
{{- $key = printf "%s/tls.key" (include "zoomsymbl.kafkaClientDir" .root) -}}
{{- end }}
- name: ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL
  value: {{ $s.protocol | quote }}
- name: ZOOMSYMBL_KAFKA_SASL_MECHANISM
  value: {{ $s.mechanism | quote }}
- name: ZOOMSYMBL_KAFKA_SASL_USERNAME
  value: {{ index $login 0 | quote }}
{{- if eq $s.protocol "SASL_SSL" }}
- name: ZOOMSYMBL_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ index $login 1 }}
      key: {{ index $login 2 }}
{{- end }}
- name: ZOOMSYMBL_KAFKA_SSL_CA_FILE
  value: {{ $ca | quote }}
- name: ZOOMSYMBL_KAFKA_SSL_CERT_FILE
  value: {{ $cert | quote }}
- name: ZOOMSYMBL_KAFKA_SSL_KEY_FILE
  value: {{ $key | quote }}
- name: ZOOMSYMBL_KAFKA_SSL_CHECK_HOSTNAME
  value: {{ $s.checkHostname | toString | quote }}
{{- end }}

{{/* volumeMounts entries (possibly none) of a container that talks to Kafka. */}}
{{- define "zoomsymbl.kafkaSecurityMounts" -}}
{{- $s := .Values.kafka.security -}}
{{- if or $s.ca.secretName $s.ca.configMapName }}
- name: kafka-ca
  mountPath: {{ include "zoomsymbl.kafkaCaDir" . }}
  readOnly: true
{{- end }}
{{- if $s.clientCert.secretName }}
- name: kafka-client-cert
  mountPath: {{ include "zoomsymbl.kafkaClientDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* volumes entries (possibly none) for the mounts above. */}}
{{- define "zoomsymbl.kafkaSecurityVolumes" -}}
{{- $s := .Values.kafka.security -}}
{{- if $s.ca.secretName }}
- name: kafka-ca
  secret:
    secretName: {{ $s.ca.secretName }}
    defaultMode: 0444
    items:
      - key: {{ $s.ca.key }}
        path: ca.crt
{{- else if $s.ca.configMapName }}
- name: kafka-ca
  configMap:
    name: {{ $s.ca.configMapName }}
    defaultMode: 0444
    items:
      - key: {{ $s.ca.key }}
        path: ca.crt
{{- end }}
{{- if $s.clientCert.secretName }}
- name: kafka-client-cert
  secret:
    secretName: {{ $s.clientCert.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $s.clientCert.certKey }}
        path: tls.crt
      - key: {{ $s.clientCert.keyKey }}
        path: tls.key
{{- end }}
{{- end }}
