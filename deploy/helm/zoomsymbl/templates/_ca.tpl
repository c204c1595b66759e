{{/*
Private CAs of S3, MongoDB and the OTLP endpoint (an in-cluster MinIO, Ceph, MongoDB or Tempo whose certificates
a private CA signed): the bundle named in s3.ca / mongo.ca / otel.ca is mounted read-only in every service at
/etc/zoomsymbl/<store>-ca/ca.crt and named by ZOOMSYMBL_S3_CA_FILE / ZOOMSYMBL_MONGO_CA_FILE /
OTEL_EXPORTER_OTLP_CERTIFICATE; nothing set = the image's system CAs (docs/operations.md). Every service reads
them at start-up, so each gets the files.
*/}}
{{- define "zoomsymbl.caStores" -}}s3 mongo otel{{- end }}

{{/* The bundle's path in the container, or "" (system CAs): (dict "root" $ "store" "s3"); fails on contradictions. */}}
{{- define "zoomsymbl.caFile" -}}
{{- $ca := (index .root.Values .store).ca -}}
{{- if and $ca.secretName $ca.configMapName }}
{{- fail (printf "%s.ca: set secretName or configMapName, not both" .store) }}
{{- end }}
{{- if or $ca.secretName $ca.configMapName }}
{{- if and (eq .store "s3") (not .root.Values.s3.secure) }}
{{- fail "s3.ca is set but s3.secure is false (no TLS): set s3.secure to true" }}
{{- end }}
{{- if and (eq .store "otel") (not (hasPrefix "https://" .root.Values.otel.endpoint)) }}
{{- fail "otel.ca is set but otel.endpoint is not an https:// URL (no TLS)" }}
{{- end }}
{{- printf "/etc/zoomsymbl/%s-ca/ca.crt" .store }}
{{- end }}
{{- end }}

{{/* volumeMounts entries (possibly none) of a service container. */}}
{{- define "zoomsymbl.caMounts" -}}
{{- range $store := splitList " " (include "zoomsymbl.caStores" .) }}
{{- with include "zoomsymbl.caFile" (dict "root" $ "store" $store) }}
- name: {{ $store }}-ca
  mountPath: {{ dir . }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* volumes entries (possibly none) for the mounts above. */}}
{{- define "zoomsymbl.caVolumes" -}}
{{- range $store := splitList " " (include "zoomsymbl.caStores" .) }}
{{- $ca := (index $.Values $store).ca -}}
{{- if include "zoomsymbl.caFile" (dict "root" $ "store" $store) }}
- name: {{ $store }}-ca
  {{- if $ca.secretName }}
  secret:
    secretName: {{ $ca.secretName }}
  {{- else }}
  configMap:
    name: {{ $ca.configMapName }}
  {{- end }}
    defaultMode: 0444
    items:
      - key: {{ $ca.key }}
        path: ca.crt
{{- end }}
{{- end }}
{{- end }}
