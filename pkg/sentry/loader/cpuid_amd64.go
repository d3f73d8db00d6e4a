package loader

// cpuid executes the CPUID instruction.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// Values of the auxiliary vector that describe the CPU. They come from the host's
// CPUID, as the application sees it: the platforms run application code on the
// host CPU without hiding features.
var (
	// hwcap is AT_HWCAP: on x86, Linux passes the feature bits of CPUID leaf 1's
	// EDX.
	hwcap = func() uint64 {
		_, _, _, edx := cpuid(1, 0)
		return uint64(edx)
	}()

	// minSigStackSize is AT_MINSIGSTKSZ: the signal frame Linux 6.x builds at
	// most, the size of the XSAVE area (CPUID leaf 0xD, EBX: for the features
	// enabled in XCR0; 512 bytes of FXSAVE without OSXSAVE) plus 944 bytes of
	// siginfo, ucontext, legacy FP state and alignment (Linux's
	// init_sigframe_size; 1776 for the 832-byte AVX area). Visor's signal frames
	// must not be larger.
	minSigStackSize = func() uint64 {
		xsave := uint64(512)
		if _, _, ecx, _ := cpuid(1, 0); ecx&(1<<27) != 0 { // OSXSAVE
			_, ebx, _, _ := cpuid(0xd, 0)
			xsave = uint64(ebx)
		}
		return (xsave + sigFrameOverhead + 15) &^ 15
	}()
)

const (
	// sigFrameOverhead is what a signal frame needs besides the XSAVE area: see
	// minSigStackSize.
	sigFrameOverhead = 944

	// hwcap2 is AT_HWCAP2. Linux sets HWCAP2_FSGSBASE when the CPU lets user code
	// write the FS and GS bases itself; Visor does not promise that every
	// platform preserves bases written that way across its switches, so it
	// advertises nothing.
	hwcap2 = 0

	// clockTicks is AT_CLKTCK, the unit of times(2): USER_HZ.
	clockTicks = 100
)
