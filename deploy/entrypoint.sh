#!/bin/sh
# The one entrypoint of the OpenDSP image: `entrypoint.sh ROLE [options]` starts one process of
# docs/operations.md ("Processes"). The compose file names its roles, and tests/deploy/test_entrypoint.py
# starts this very script for each of them, so what the containers run is what the tests run.
#
# Settings come from the environment (OPENDSP_*; see README.md). Here only:
#   OPENDSP_LISTEN_HOST   address every port of the process listens on (default 0.0.0.0: inside a container)
#   PORT                  web: the HTTP port (8000)           OPENDSP_WEB_WORKERS  web: processes (2)
#   OPENDSP_MLLP_PORT     mllp: the HL7 v2 port (2575)        OPENDSP_HEALTH_PORT  worker, mllp, checkpointer (8081)
#   OPENDSP_METRICS_PORT  metrics: the Prometheus port (9464) OPENDSP_CHECKPOINT_EVERY_SECONDS  checkpointer (60)
#   OPENDSP_METRICS_DIR   a folder shared by every container for the Prometheus counters (none: not counted);
#                         each process role and host writes in a sub-folder of its own, emptied as it starts
#                         (processes of two containers may have the same number); `metrics` adds them all up.
# Every role `exec`s its command: the process receives SIGTERM itself and stops as documented.
set -eu

usage="usage: entrypoint.sh web|worker|mllp|checkpointer|migrate|metrics [options]"
if [ $# -eq 0 ]; then
    echo "$usage" >&2
    exit 64
fi
role=$1
shift
host=${OPENDSP_LISTEN_HOST:-0.0.0.0}
health_port=${OPENDSP_HEALTH_PORT:-8081}

if [ -n "${OPENDSP_METRICS_DIR:-}" ]; then
    case "$role" in
        metrics)
            PROMETHEUS_MULTIPROC_DIR=$OPENDSP_METRICS_DIR ;;
        web|worker|mllp|checkpointer)
            PROMETHEUS_MULTIPROC_DIR=$OPENDSP_METRICS_DIR/$role-${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}
            rm -rf "$PROMETHEUS_MULTIPROC_DIR" ;;
    esac
    if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        export PROMETHEUS_MULTIPROC_DIR
    fi
fi

case "$role" in
    web)
        exec opendsp serve --host "$host" --port "${PORT:-8000}" --workers "${OPENDSP_WEB_WORKERS:-2}" "$@" ;;
    worker)
        exec opendsp worker --health-host "$host" --health-port "$health_port" "$@" ;;
    mllp)
        exec opendsp mllp --host "$host" --port "${OPENDSP_MLLP_PORT:-2575}" \
            --health-host "$host" --health-port "$health_port" "$@" ;;
    checkpointer)
        exec opendsp trace checkpointer --every "${OPENDSP_CHECKPOINT_EVERY_SECONDS:-60}" \
            --health-host "$host" --health-port "$health_port" "$@" ;;
    migrate)
        exec opendsp migrate "$@" ;;
    metrics)
        exec opendsp metrics --host "$host" --port "${OPENDSP_METRICS_PORT:-9464}" "$@" ;;
    *)
        echo "entrypoint.sh: unknown role '$role'" >&2
        echo "$usage" >&2
        exit 64 ;;
esac
