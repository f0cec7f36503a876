#!/usr/bin/env bash
# Entry point of the Spark image (deploy/Dockerfile.spark) for Spark on Kubernetes.
#
# Spark's Kubernetes backend (what the spark-operator and EMR on EKS drive) starts the driver pod
# with the arguments `driver --properties-file ... --class ... <mainApplicationFile> <args>` and each
# executor pod with `executor`, describing the executor in SPARK_* environment variables. Anything
# else runs as given (e.g. `sentiment predict --engine spark ...` in local mode, or a shell).
set -euo pipefail

spark_home=${SPARK_HOME:?SPARK_HOME is not set}
case "${1:-}" in
  driver)
    shift
    # The driver runs inside its pod: client mode there, or spark-submit would submit it again.
    exec "$spark_home/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    # The JVM options Spark passes to executors arrive as SPARK_JAVA_OPT_0, _1, ... in order.
    java_opts=()
    while IFS='=' read -r name _; do
      java_opts+=("${!name}")
    done < <(env | grep -E '^SPARK_JAVA_OPT_[0-9]+=' | sort -t_ -k4 -n)
    exec java "${java_opts[@]}" -Xms"${SPARK_EXECUTOR_MEMORY:?}" -Xmx"${SPARK_EXECUTOR_MEMORY}" \
      -cp "$spark_home/conf:$spark_home/jars/*" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL:?}" \
      --executor-id "${SPARK_EXECUTOR_ID:?}" \
      --cores "${SPARK_EXECUTOR_CORES:?}" \
      --app-id "${SPARK_APPLICATION_ID:?}" \
      --hostname "${SPARK_EXECUTOR_POD_IP:?}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME:?}"
    ;;
  *)
    exec "$@"
    ;;
esac
