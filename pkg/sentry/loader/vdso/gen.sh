#!/bin/sh
# gen.sh builds vdso.so from vdso.S and vdso.lds with gcc. It runs from this
# directory (go generate does that); an optional argument names the output file
# (the test builds a copy into a temporary directory to compare with the checked-in
# one). The output is reproducible: no build ID, no .comment, symbols stripped but
# for the dynamic ones.
set -eu
out=${1:-vdso.so}
exec gcc -nostdlib -shared -fPIC \
	-Wl,-T,vdso.lds \
	-Wl,-soname=linux-vdso.so.1 \
	-Wl,--hash-style=both \
	-Wl,--eh-frame-hdr \
	-Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 \
	-Wl,-z,noexecstack \
	-Wl,--no-undefined \
	-Wl,-s \
	-o "$out" vdso.S
