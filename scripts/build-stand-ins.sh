#!/bin/sh
# Builds TEST STAND-INS for the third-party images of deploy/compose.yaml (PostgreSQL, moto's S3 server,
# Prometheus) on a machine that cannot pull docker.io's, such as the test suite's: each from Debian's packages or
# PyPI on the Debian Python base that scripts/build-image.sh makes (deploy/stand-ins/*.Containerfile). They are
# for trying the composition (tests/deploy/test_compose_up.py), not for production (docs/operations.md,
# "Deployment").
#
#   scripts/build-stand-ins.sh      prints the variables that point the composition at them, one a line:
#                                   OPENDSP_POSTGRES_IMAGE=...  OPENDSP_S3_IMAGE=...  OPENDSP_PROMETHEUS_IMAGE=...
#
# A stand-in is built once and then reused: its tag names its inputs (the base's tag, its Containerfile, the files
# it copies, moto's locked version), so a change of any of them makes a new one. Run as root (the base needs
# debootstrap the first time). The podman settings of the machine apply (CONTAINERS_CONF names another file).
set -eu

cd "$(dirname "$0")/.."
command -v podman >/dev/null 2>&1 || { echo "build-stand-ins.sh: podman not found" >&2; exit 69; }

python_base=$(sh scripts/build-image.sh --bases | cut -d' ' -f1)
moto_version=$(sed -n 's/^moto==\([^ ]*\).*/\1/p' requirements-dev.lock)
[ -n "$moto_version" ] || { echo "build-stand-ins.sh: no moto in requirements-dev.lock" >&2; exit 1; }

# stand_in NAME VARIABLE [BUILD-ARG...]: builds deploy/stand-ins/NAME.Containerfile unless built, prints VARIABLE=tag.
stand_in() {
    name=$1 variable=$2
    shift 2
    containerfile=deploy/stand-ins/$name.Containerfile  # its context is deploy/stand-ins (.dockerignore is the image's)
    digest=$(
        {
            echo "$python_base $*"
            cat "$containerfile"
            for copied in $(sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' "$containerfile"); do cat "deploy/stand-ins/$copied"; done
        } | sha256sum | cut -c1-12
    )
    tag="localhost/opendsp-stand-in-$name:$digest"
    if ! podman image exists "$tag"; then
        echo "build-stand-ins.sh: building $tag" >&2
        set -- --build-arg BASE_IMAGE="$python_base" "$@"
        podman build -q -f "$containerfile" "$@" -t "$tag" deploy/stand-ins >/dev/null
    fi
    echo "$variable=$tag"
}

stand_in postgres OPENDSP_POSTGRES_IMAGE
stand_in moto OPENDSP_S3_IMAGE --build-arg MOTO_VERSION="$moto_version"
stand_in prometheus OPENDSP_PROMETHEUS_IMAGE
