{{/*
S3 over HTTPS with a private CA (an in-cluster MinIO or Ceph): the bundle in s3.ca is mounted read-only in every
service and named by ZOOMSYMBL_S3_CA_FILE; nothing set = the image's system CAs (docs/operations.md, "S3").
*/}}
{{- define "zoomsymbl.s3CaDir" -}}/etc/zoomsymbl/s3-ca{{- end }}

{{/* The CA bundle's path in the container, or "" (system CAs); fails on contradictory values. */}}
{{- define "zoomsymbl.s3CaFile" -}}
{{- $ca := .Values.s3.ca -}}
{{- if and $ca.secretName $ca.configMapName }}
{{- fail "s3.ca: set secretName or configMapName, not both" }}
{{- end }}
{{- if or $ca.secretName $ca.configMapName }}
{{- if not .Values.s3.secure }}
{{- fail "s3.ca is set but s3.secure is false (no TLS): set s3.secure to true" }}
{{- end }}
{{- printf "%s/ca.crt" (include "zoomsymbl.s3CaDir" .) }}
{{- end }}
{{- end }}

{{/* volumeMounts entry (possibly none) of a service container. */}}
{{- define "zoomsymbl.s3CaMounts" -}}
{{- if include "zoomsymbl.s3CaFile" . }}
- name: s3-ca
  mountPath: {{ include "zoomsymbl.s3CaDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* volumes entry (possibly none) for the mount above. */}}
{{- define "zoomsymbl.s3CaVolumes" -}}
{{- $ca := .Values.s3.ca -}}
{{- if include "zoomsymbl.s3CaFile" . }}
- name: s3-ca
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
