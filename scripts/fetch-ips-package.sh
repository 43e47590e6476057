#!/bin/sh
# Unpacks the International Patient Summary package (hl7.fhir.uv.ips 2.0.0, CC0-1.0) from the npm registry into
# var/fhir-packages/ for tests/structured/test_ips_profiles.py (docs/adr/0039-ips-profile-validation.md).
# It is not a package.json dependency: its FHIR dependencies (hl7.fhir.r4.core and others) are not on the npm
# registry, so `npm install` cannot resolve it. The tarball is checked against the registry's published sha512.
set -eu
name=hl7.fhir.uv.ips
version=2.0.0
integrity=sha512-4PWToJ9b1FgXsm9DIvHiU6HO9Z5m75jxk0e0MXOmhFlf2m2slk/d6RoiSYIChKJlvmtJ7GbRftt7PphlwmZcbQ==
target=var/fhir-packages/$name-$version
[ -f "$target/package/package.json" ] && exit 0
command -v npm >/dev/null 2>&1 || { echo "npm not found: $name not fetched" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" "$name@$version" >/dev/null
tarball=$work/$name-$version.tgz
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 | tr -d '\n')"
if [ "$actual" != "$integrity" ]; then echo "$name@$version: integrity mismatch ($actual)" >&2; exit 1; fi
mkdir -p "$target"
tar -xzf "$tarball" -C "$target"
echo "$name@$version unpacked in $target"
