#!/bin/sh
# Builds the OpenDSP image (deploy/Containerfile) with podman on a machine that cannot pull docker.io's images:
# its two base images are made here from Debian's mirror by debootstrap and imported with `podman import`, then
# passed to the Containerfile as build arguments (docs/operations.md, "Deployment"). tests/deploy/test_image.py
# runs this script. With access to docker.io, `podman build -f deploy/Containerfile .` alone does the same.
#
#   scripts/build-image.sh [IMAGE]          IMAGE: the tag of the built image (default localhost/opendsp:latest)
#   scripts/build-image.sh --bases          makes the bases only, and prints their two tags (Python, Node)
#
#   the Python base   Debian bookworm with python3 (3.11, as python:3.11-slim-bookworm) and python3-venv
#   the Node base     Debian trixie with nodejs and npm (the stylesheet's sass needs Node 20.19 or later;
#                     bookworm has 18), for the stage that builds the portals' stylesheet
#
# A base is made once and then reused: its tag names its inputs (the suite, the packages, the certificate
# authorities this machine adds to Debian's, this recipe), so a change of any of them makes a new one.
# Run as root (debootstrap). Settings: OPENDSP_DEBIAN_MIRROR (default http://deb.debian.org/debian).
# The podman settings of the machine apply (containers.conf; CONTAINERS_CONF names another file).
set -eu

cd "$(dirname "$0")/.."
image=${1:-localhost/opendsp:latest}
mirror=${OPENDSP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
recipe=1  # raise when the way a base is made changes

for tool in podman debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build-image.sh: $tool not found" >&2; exit 69; }
done

# Certificate authorities added to this machine's trust store (a proxy's, a company's): the bases trust them too,
# so that pip and npm reach their registries from inside the build as they do from here.
extra_cas() {
    find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | LC_ALL=C sort
}

# base NAME SUITE PACKAGES ENV...: prints the tag of the base, made if missing.
base() {
    name=$1 suite=$2 packages=$3
    shift 3
    digest=$(
        {
            echo "recipe $recipe $suite $packages $*"
            for ca in $(extra_cas); do cat "$ca"; done
        } | sha256sum | cut -c1-12
    )
    tag="localhost/opendsp-base-$name:$suite-$digest"
    if podman image exists "$tag"; then
        echo "$tag"
        return
    fi
    root=$(mktemp -d /var/tmp/opendsp-base.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "build-image.sh: making $tag with debootstrap ($suite: $packages)" >&2
    # The packages are installed by apt in the new system, not by debootstrap, whose resolver knows no virtual
    # packages (npm's dependencies need them).
    debootstrap --variant=minbase "$suite" "$root/rootfs" "$mirror" >"$root/debootstrap.log" 2>&1 \
        || { tail -20 "$root/debootstrap.log" "$root"/rootfs/debootstrap/debootstrap.log >&2; exit 1; }
    chroot "$root/rootfs" sh -c "apt-get update -q && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages && apt-get clean" \
        >"$root/apt.log" 2>&1 || { tail -20 "$root/apt.log" >&2; exit 1; }
    if [ -n "$(extra_cas)" ]; then
        mkdir -p "$root/rootfs/usr/local/share/ca-certificates"
        for ca in $(extra_cas); do cp "$ca" "$root/rootfs/usr/local/share/ca-certificates/"; done
        chroot "$root/rootfs" update-ca-certificates >/dev/null
    fi
    rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/lib/apt/lists/* "$root/rootfs/var/log/"*
    set --
    for variable in LANG=C.UTF-8 ${extra_env:-}; do
        set -- "$@" --change "ENV $variable"
    done
    tar --numeric-owner -C "$root/rootfs" -cf - . | podman import "$@" - "$tag" >/dev/null
    rm -rf "$root"
    trap - EXIT
    echo "$tag"
}

# pip and npm read the trust store through these variables (pip's own list of authorities is certifi's).
extra_env=
if [ -n "$(extra_cas)" ]; then
    extra_env=PIP_CERT=/etc/ssl/certs/ca-certificates.crt
fi
python_base=$(base python bookworm "python3 python3-venv python-is-python3 ca-certificates" "$extra_env")
if [ -n "$(extra_cas)" ]; then
    extra_env=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
node_base=$(base node trixie "nodejs npm ca-certificates" "$extra_env")
if [ "$image" = --bases ]; then
    echo "$python_base $node_base"
    exit 0
fi

podman build -f deploy/Containerfile \
    --build-arg PYTHON_IMAGE="$python_base" --build-arg NODE_IMAGE="$node_base" \
    -t "$image" .
