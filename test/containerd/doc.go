// Package containerd is the containerd end-to-end test of runsc: it starts a
// containerd of its own (root, state and socket in a temporary directory), imports
// the busybox rootfs of images/busybox as a docker-archive image with
// `ctr images import`, and drives `ctr run --runtime io.containerd.runc.v2
// --runc-binary RUNTIME` — containerd's runc shim running the runtime as it runs
// runc — checking output, exit codes, env, bind mounts, exec, SIGTERM and SIGKILL,
// a terminal (ctr run -t on a pty), and that a deleted container leaves nothing on
// the host. (ctr 1.6 builds the runc shim's options, BinaryName included, from
// --runc-binary and --runc-root; its --runtime-config-path applies only to other
// runtimes.)
//
// Every case runs against runc too (test/engine: $VISOR_TEST_RUNTIMES), which
// proves the harness. It needs root and containerd; without them it skips.
package containerd
