{{/* The Deployment of one service: (dict "root" $ "component" "<service>"). */}}
{{- define "zoomsymbl.deployment" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $svc := index $root.Values $c -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "zoomsymbl.componentName" . }}
  labels:
    {{- include "zoomsymbl.componentLabels" . | nindent 4 }}
spec:
  replicas: {{ include "zoomsymbl.replicas" . }}
  revisionHistoryLimit: 5
  # A new pod may use its startup probe's whole budget: the rollout is declared stalled (and Helm 4's --wait fails
  # the release) only after that plus Kubernetes' own 600 s for scheduling, the image pull and readiness.
  progressDeadlineSeconds: {{ add (mul $svc.probes.startup.periodSeconds $svc.probes.startup.failureThreshold) 600 }}
  selector:
    matchLabels:
      {{- include "zoomsymbl.componentSelectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      {{- include "zoomsymbl.rollingUpdate" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "zoomsymbl.componentLabels" . | nindent 8 }}
      annotations:
        # Roll the pods when their settings or credentials change.
        checksum/config: {{ printf "%s%s" (include "zoomsymbl.configmap" .) (include "zoomsymbl.commonConfigmap" $root) | sha256sum }}
        checksum/secret: {{ include "zoomsymbl.secretChecksum" $root }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "zoomsymbl.serviceAccountName" $root }}
      {{- include "zoomsymbl.podSecurity" $root | nindent 6 }}
      terminationGracePeriodSeconds: {{ include "zoomsymbl.terminationGrace" . }}
      {{- with $svc.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      containers:
        - name: {{ $c }}
          image: {{ include "zoomsymbl.image" (dict "root" $root "image" $svc.image) | quote }}
          imagePullPolicy: {{ $svc.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $svc.port }}
              protocol: TCP
          {{- include "zoomsymbl.containerEnv" . | nindent 10 }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ $svc.probes.startup.periodSeconds }}
            timeoutSeconds: {{ $svc.probes.startup.timeoutSeconds }}
            failureThreshold: {{ $svc.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ $svc.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $svc.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $svc.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: {{ $svc.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $svc.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $svc.probes.readiness.failureThreshold }}
          {{- if gt (int $svc.preStopSleepSeconds) 0 }}
          lifecycle:
            # Keep serving while endpoints and load balancers drop the pod; SIGTERM comes after.
            preStop:
              exec:
                command: ["sleep", {{ $svc.preStopSleepSeconds | quote }}]
          {{- end }}
          resources:
            {{- toYaml (include "zoomsymbl.resources" . | fromYaml) | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          {{- include "zoomsymbl.containerVolumeMounts" . | nindent 10 }}
      {{- include "zoomsymbl.podVolumes" . | nindent 6 }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        {{- if $svc.topologySpreadConstraints }}
        {{- toYaml $svc.topologySpreadConstraints | nindent 8 }}
        {{- else }}
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "zoomsymbl.componentSelectorLabels" . | nindent 14 }}
        {{- end }}
{{- end }}

{{/*
A service's rollingUpdate (<service>.rollingUpdate): a new pod before an old one goes (maxSurge 1, maxUnavailable 0),
or, for the transcriber by default, an old one first (0, 1): a surge pod of a GPU transcriber asks for a GPU more
than its replicas hold and stays Pending, so no old pod ever left. Both 0 is refused here rather than by the API
server, after the topics hook ran.
*/}}
{{- define "zoomsymbl.rollingUpdate" -}}
{{- $rolling := (index .root.Values .component).rollingUpdate -}}
{{- if and (eq (trimSuffix "%" (toString $rolling.maxSurge)) "0") (eq (trimSuffix "%" (toString $rolling.maxUnavailable)) "0") }}
{{- fail (printf "%s.rollingUpdate: maxSurge and maxUnavailable may not both be 0 (the rollout could never replace a pod)" .component) }}
{{- end -}}
maxSurge: {{ $rolling.maxSurge }}
maxUnavailable: {{ $rolling.maxUnavailable }}
{{- end }}

{{/*
What a service's container reads: its environment (envFrom the shared and the service's ConfigMap, env the
credentials, Kafka security and pod identity), its volume mounts and its pod's volumes, each called with
(dict "root" $ "component" "<service>"). The Deployment uses them, and the retention and operator (ops) CronJobs with
the notifier's context, so their pods read exactly what the notifier's does (configuration, Secret keys, tenants
file, CA bundles).
*/}}
{{- define "zoomsymbl.containerEnv" -}}
{{- $root := .root -}}
{{- $c := .component -}}
envFrom:
  - configMapRef:
      name: {{ include "zoomsymbl.fullname" $root }}-config
  - configMapRef:
      name: {{ include "zoomsymbl.componentName" . }}
env:
  {{- include "zoomsymbl.secretEnv" . | trim | nindent 2 }}
  {{- if and (ne $c "web") (not .storeOnly) }}{{/* the web service and the retention CronJob talk to no Kafka topic */}}
  {{- include "zoomsymbl.kafkaSecurityEnv" . | trim | nindent 2 }}
  {{- end }}
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  # $(VAR) expansion works only in env values, hence here and not in the ConfigMap.
  - name: OTEL_RESOURCE_ATTRIBUTES
    value: {{ include "zoomsymbl.otelResourceAttributes" $root | quote }}
{{- end }}

{{- define "zoomsymbl.containerVolumeMounts" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $svc := index $root.Values $c -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: tenants
    mountPath: {{ include "zoomsymbl.tenantsDir" . }}
    readOnly: true
  {{- if ne $c "web" }}
  {{- with include "zoomsymbl.kafkaSecurityMounts" $root | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- end }}
  {{- with include "zoomsymbl.caMounts" $root | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if include "zoomsymbl.scratchSetting" $c }}
  - name: scratch
    mountPath: {{ $svc.scratch.mountPath }}
  {{- end }}
  {{- if and (eq $c "notifier") $svc.smtpCa.secretName }}
  - name: smtp-ca
    mountPath: /etc/zoomsymbl/smtp-ca
    readOnly: true
  {{- end }}
  {{- if and (eq $c "transcriber") $svc.model.existingClaim }}
  - name: model
    mountPath: {{ $svc.model.mountPath }}
    {{- with $svc.model.subPath }}
    subPath: {{ . }}
    {{- end }}
    readOnly: true
  {{- end }}
{{- end }}

{{- define "zoomsymbl.podVolumes" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $svc := index $root.Values $c -}}
volumes:
  {{- include "zoomsymbl.tmpVolume" $root | nindent 2 }}
  - name: tenants
    secret:
      secretName: {{ include "zoomsymbl.secretName" $root }}
      defaultMode: 0440
      items:
        - key: {{ include "zoomsymbl.tenantsKey" . }}
          path: tenants.json
  {{- if ne $c "web" }}
  {{- with include "zoomsymbl.kafkaSecurityVolumes" $root | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- end }}
  {{- with include "zoomsymbl.caVolumes" $root | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if include "zoomsymbl.scratchSetting" $c }}
  {{- include "zoomsymbl.scratchVolume" . | nindent 2 }}
  {{- end }}
  {{- if and (eq $c "notifier") $svc.smtpCa.secretName }}
  - name: smtp-ca
    secret:
      secretName: {{ $svc.smtpCa.secretName }}
      defaultMode: 0444
      items:
        - key: {{ $svc.smtpCa.key }}
          path: ca.crt
  {{- end }}
  {{- if and (eq $c "transcriber") $svc.model.existingClaim }}
  # The Whisper model (ZOOMSYMBL_TRANSCRIBER_MODEL_DIR points inside it), never written.
  - name: model
    persistentVolumeClaim:
      claimName: {{ $svc.model.existingClaim }}
      readOnly: true
  {{- end }}
{{- end }}

{{/* The container's resources; the emptyDirs on the node's disk (/tmp unless its medium is Memory, and a scratch
emptyDir) are also requested as ephemeral storage, their sizes summed (unless set), so the scheduler reserves the
node's disk for them instead of letting a long meeting push the node into DiskPressure and get pods of other
services evicted. */}}
{{- define "zoomsymbl.resources" -}}
{{- $svc := index .root.Values .component -}}
{{- $scratch := list -}}
{{- if and (include "zoomsymbl.scratchSetting" .component) (not $svc.scratch.storageClassName) -}}
{{- $scratch = list $svc.scratch.size -}}
{{- end -}}
{{- include "zoomsymbl.jobResources" (dict "root" .root "resources" $svc.resources "sizes" $scratch) -}}
{{- end }}

{{/* A container's resources (dict "root" "resources" and optionally "sizes", other emptyDirs on the node's disk): its
/tmp emptyDir on the node's disk and those sizes requested as ephemeral storage, summed (unless set). The services
(zoomsymbl.resources), the topics Job, the retention CronJob and the helm test pod. */}}
{{- define "zoomsymbl.jobResources" -}}
{{- $sizes := default list .sizes -}}
{{- if ne .root.Values.tmpVolume.medium "Memory" -}}
{{- $sizes = append $sizes .root.Values.tmpVolume.sizeLimit -}}
{{- end -}}
{{- $resources := deepCopy (default dict .resources) -}}
{{- if $sizes -}}
{{- $requests := default dict $resources.requests -}}
{{- if not (hasKey $requests "ephemeral-storage") -}}
{{- $_ := set $requests "ephemeral-storage" (include "zoomsymbl.quantitySum" $sizes) -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end }}

{{/* Resource quantities (the schema's: 256Mi, 20Gi, 1.5G, 1e9, 1000) summed, in whole Mi rounded up: Kubernetes
accepts the sum written so, and templates have no quantity arithmetic of their own. */}}
{{- define "zoomsymbl.quantitySum" -}}
{{- $factors := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- $bytes := 0.0 -}}
{{- range . -}}
{{- $q := toString . -}}
{{- $number := regexFind "^[0-9.]+" $q -}}
{{- $suffix := trimPrefix $number $q -}}
{{- if regexMatch "^[eE][0-9]+$" $suffix -}}
{{- $bytes = addf $bytes (float64 $q) -}}
{{- else if hasKey $factors $suffix -}}
{{- $bytes = addf $bytes (mulf (float64 $number) (get $factors $suffix)) -}}
{{- else -}}
{{- fail (printf "%q: not a size the chart can add up (use Ki, Mi, Gi, Ti or k, M, G, T)" $q) -}}
{{- end -}}
{{- end -}}
{{- printf "%.0fMi" (ceil (divf $bytes 1048576.0)) -}}
{{- end }}

{{/* A scratch volume (mixer, submitter, transcriber): an emptyDir with a size limit, or a generic ephemeral PVC. */}}
{{- define "zoomsymbl.scratchVolume" -}}
{{- $scratch := (index .root.Values .component).scratch -}}
- name: scratch
  {{- if $scratch.storageClassName }}
  ephemeral:
    volumeClaimTemplate:
      metadata:
        labels:
          {{- include "zoomsymbl.componentSelectorLabels" . | nindent 10 }}
      spec:
        accessModes: ["ReadWriteOnce"]
        storageClassName: {{ $scratch.storageClassName }}
        resources:
          requests:
            storage: {{ $scratch.size }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ $scratch.size }}
  {{- end }}
{{- end }}

{{/* OTEL_RESOURCE_ATTRIBUTES: where a span came from (pod, namespace), plus the user's own attributes. */}}
{{- define "zoomsymbl.otelResourceAttributes" -}}
{{- $attrs := list "service.namespace=zoomsymbl" (printf "service.version=%s" .Chart.AppVersion) "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" -}}
{{- with .Values.otel.resourceAttributes }}
{{- $attrs = append $attrs . -}}
{{- end }}
{{- join "," $attrs }}
{{- end }}
