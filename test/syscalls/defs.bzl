"""syscall_test: one C++ syscall test, run natively and in the sandbox."""

load("@rules_cc//cc:defs.bzl", "cc_binary")

def syscall_test(name, srcs = None, deps = [], size = "small", shard_count = None, tags = [], **kwargs):
    """Declares a syscall test binary and the tests that run it.

    For name = "pipe_test" it makes:
      pipe_test               the static googletest binary, from linux/pipe_test.cc;
      pipe_test_native        runs it on the host (proves the test is right about Linux);
      pipe_test_runsc_ptrace  runs it in runsc with the ptrace platform (proves Visor
                              matches): //runsc is its data, and the runner starts
                              the binary in a sandbox of its own. It is tagged manual
                              (not part of //...: the suite is not all green under
                              runsc yet, see test/syscalls/TRIAGE.md) and local
                              (runsc needs root and host namespaces, which Bazel's
                              sandbox does not give).

    Both tests go through //test/runner, which reports one line per case and
    translates Bazel's sharding and --test_filter for googletest.

    Args:
      name: the binary's name, ending in _test.
      srcs: the sources; default ["linux/<name>.cc"].
      deps: extra libraries; //test/util:test_util and googletest are implied.
      size: the size of both tests.
      shard_count: shards for both tests.
      tags: extra tags for both tests.
      **kwargs: passed to both tests.
    """
    if srcs == None:
        srcs = ["linux/%s.cc" % name]

    # Static, so that the sandbox needs none of the host's shared libraries.
    cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        copts = ["-std=c++17"],
        linkopts = ["-static"],
        linkstatic = True,
        deps = deps + [
            "//test/util:test_util",
            "@com_google_googletest//:gmock",
            "@com_google_googletest//:gtest_main",
        ],
    )

    runner = "//test/runner"
    native.sh_test(
        name = name + "_native",
        srcs = ["//test/syscalls:syscall_test.sh"],
        args = [
            "$(rootpath %s)" % runner,
            "--mode=native",
            "$(rootpath :%s)" % name,
        ],
        data = [runner, ":" + name],
        size = size,
        shard_count = shard_count,
        tags = tags,
        **kwargs
    )

    runsc = "//runsc"
    native.sh_test(
        name = name + "_runsc_ptrace",
        srcs = ["//test/syscalls:syscall_test.sh"],
        args = [
            "$(rootpath %s)" % runner,
            "--mode=runsc",
            "--runsc=$(rootpath %s)" % runsc,
            "--platform=ptrace",
            "$(rootpath :%s)" % name,
        ],
        data = [runner, runsc, ":" + name],
        size = size,
        shard_count = shard_count,
        tags = tags + ["manual", "local"],
        **kwargs
    )
