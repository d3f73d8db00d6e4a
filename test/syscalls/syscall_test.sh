#!/bin/sh
# The test that syscall_test (defs.bzl) declares: it runs test/runner, whose
# path and arguments (mode, test binary, any --test_arg) are this script's.
exec "$@"
