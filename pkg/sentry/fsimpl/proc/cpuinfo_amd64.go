package proc

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// cpuid executes the CPUID instruction.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// cpuFlag names a feature bit of a CPUID register as Linux's /proc/cpuinfo flags
// line does (arch/x86/include/asm/cpufeatures.h).
type cpuFlag struct {
	bit  uint
	name string
}

// The feature flags /proc/cpuinfo lists, by the CPUID register they are in.
var (
	flags1EDX = []cpuFlag{
		{0, "fpu"}, {1, "vme"}, {2, "de"}, {3, "pse"}, {4, "tsc"}, {5, "msr"}, {6, "pae"}, {7, "mce"},
		{8, "cx8"}, {9, "apic"}, {11, "sep"}, {12, "mtrr"}, {13, "pge"}, {14, "mca"}, {15, "cmov"},
		{16, "pat"}, {17, "pse36"}, {18, "pn"}, {19, "clflush"}, {21, "dts"}, {22, "acpi"}, {23, "mmx"},
		{24, "fxsr"}, {25, "sse"}, {26, "sse2"}, {27, "ss"}, {28, "ht"}, {29, "tm"}, {30, "ia64"}, {31, "pbe"},
	}
	flagsExtEDX = []cpuFlag{
		{11, "syscall"}, {20, "nx"}, {22, "mmxext"}, {25, "fxsr_opt"}, {26, "pdpe1gb"}, {27, "rdtscp"},
		{29, "lm"}, {30, "3dnowext"}, {31, "3dnow"},
	}
	flags1ECX = []cpuFlag{
		{0, "pni"}, {1, "pclmulqdq"}, {2, "dtes64"}, {3, "monitor"}, {4, "ds_cpl"}, {5, "vmx"}, {6, "smx"},
		{7, "est"}, {8, "tm2"}, {9, "ssse3"}, {10, "cid"}, {11, "sdbg"}, {12, "fma"}, {13, "cx16"},
		{14, "xtpr"}, {15, "pdcm"}, {17, "pcid"}, {18, "dca"}, {19, "sse4_1"}, {20, "sse4_2"},
		{21, "x2apic"}, {22, "movbe"}, {23, "popcnt"}, {24, "tsc_deadline_timer"}, {25, "aes"},
		{26, "xsave"}, {28, "avx"}, {29, "f16c"}, {30, "rdrand"}, {31, "hypervisor"},
	}
	flagsExtECX = []cpuFlag{
		{0, "lahf_lm"}, {1, "cmp_legacy"}, {2, "svm"}, {3, "extapic"}, {4, "cr8_legacy"}, {5, "abm"},
		{6, "sse4a"}, {7, "misalignsse"}, {8, "3dnowprefetch"}, {9, "osvw"}, {10, "ibs"}, {11, "xop"},
		{12, "skinit"}, {13, "wdt"}, {15, "lwp"}, {16, "fma4"}, {17, "tce"}, {19, "nodeid_msr"},
		{21, "tbm"}, {22, "topoext"}, {23, "perfctr_core"}, {24, "perfctr_nb"}, {26, "bpext"},
		{27, "ptsc"}, {28, "perfctr_llc"}, {29, "mwaitx"},
	}
	flags7EBX = []cpuFlag{
		{0, "fsgsbase"}, {1, "tsc_adjust"}, {2, "sgx"}, {3, "bmi1"}, {4, "hle"}, {5, "avx2"}, {7, "smep"},
		{8, "bmi2"}, {9, "erms"}, {10, "invpcid"}, {11, "rtm"}, {12, "cqm"}, {14, "mpx"}, {15, "rdt_a"},
		{16, "avx512f"}, {17, "avx512dq"}, {18, "rdseed"}, {19, "adx"}, {20, "smap"}, {21, "avx512ifma"},
		{23, "clflushopt"}, {24, "clwb"}, {25, "intel_pt"}, {26, "avx512pf"}, {27, "avx512er"},
		{28, "avx512cd"}, {29, "sha_ni"}, {30, "avx512bw"}, {31, "avx512vl"},
	}
	flagsXSaveEAX = []cpuFlag{{0, "xsaveopt"}, {1, "xsavec"}, {2, "xgetbv1"}, {3, "xsaves"}}
	flags7ECX     = []cpuFlag{
		{1, "avx512vbmi"}, {2, "umip"}, {3, "pku"}, {4, "ospke"}, {5, "waitpkg"}, {6, "avx512_vbmi2"},
		{8, "gfni"}, {9, "vaes"}, {10, "vpclmulqdq"}, {11, "avx512_vnni"}, {12, "avx512_bitalg"},
		{13, "tme"}, {14, "avx512_vpopcntdq"}, {16, "la57"}, {22, "rdpid"}, {25, "cldemote"},
		{27, "movdiri"}, {28, "movdir64b"}, {30, "sgx_lc"},
	}
	flags7EDX = []cpuFlag{
		{2, "avx512_4vnniw"}, {3, "avx512_4fmaps"}, {4, "fsrm"}, {8, "avx512_vp2intersect"},
		{10, "md_clear"}, {14, "serialize"}, {16, "tsxldtrk"}, {18, "pconfig"}, {19, "arch_lbr"},
		{22, "amx_bf16"}, {23, "avx512_fp16"}, {24, "amx_tile"}, {25, "amx_int8"},
		{28, "flush_l1d"}, {29, "arch_capabilities"},
	}
)

// appendFlags appends the names of the flags set in reg.
func appendFlags(names []string, reg uint32, flags []cpuFlag) []string {
	for _, f := range flags {
		if reg&(1<<f.bit) != 0 {
			names = append(names, f.name)
		}
	}
	return names
}

// cpuDescription is what /proc/cpuinfo says of every CPU: the host CPU as CPUID
// describes it, which is what application code runs on.
type cpuDescription struct {
	vendor                  string
	family, model, stepping uint32
	modelName               string
	mhz                     float64
	cacheKB                 uint32
	cpuidLevel              uint32
	flags                   []string
	clflush                 uint32
	physBits, virtBits      uint32
}

// hostCPU returns the host CPU's description, read once.
var hostCPU = sync.OnceValue(func() *cpuDescription {
	c := &cpuDescription{physBits: 36, virtBits: 48}
	maxLeaf, ebx, ecx, edx := cpuid(0, 0)
	c.cpuidLevel = maxLeaf
	var v [12]byte
	binary.LittleEndian.PutUint32(v[0:], ebx)
	binary.LittleEndian.PutUint32(v[4:], edx)
	binary.LittleEndian.PutUint32(v[8:], ecx)
	c.vendor = string(v[:])

	eax, ebx1, ecx1, edx1 := cpuid(1, 0)
	c.stepping = eax & 0xf
	c.model = (eax >> 4) & 0xf
	c.family = (eax >> 8) & 0xf
	if c.family == 0xf {
		c.family += (eax >> 20) & 0xff
	}
	if c.family >= 6 {
		c.model += ((eax >> 16) & 0xf) << 4
	}
	c.clflush = ((ebx1 >> 8) & 0xff) * 8

	maxExt, _, _, _ := cpuid(0x80000000, 0)
	var extECX, extEDX uint32
	if maxExt >= 0x80000001 {
		_, _, extECX, extEDX = cpuid(0x80000001, 0)
	}
	// Linux's order: the words of cpufeatures.h.
	c.flags = appendFlags(c.flags, edx1, flags1EDX)
	c.flags = appendFlags(c.flags, extEDX, flagsExtEDX)
	c.flags = appendFlags(c.flags, ecx1, flags1ECX)
	c.flags = appendFlags(c.flags, extECX, flagsExtECX)
	if maxLeaf >= 7 {
		_, ebx7, ecx7, edx7 := cpuid(7, 0)
		c.flags = appendFlags(c.flags, ebx7, flags7EBX)
		if maxLeaf >= 0xd {
			xsave, _, _, _ := cpuid(0xd, 1)
			c.flags = appendFlags(c.flags, xsave, flagsXSaveEAX)
		}
		c.flags = appendFlags(c.flags, ecx7, flags7ECX)
		c.flags = appendFlags(c.flags, edx7, flags7EDX)
	}

	if maxExt >= 0x80000004 {
		var brand [48]byte
		for i := uint32(0); i < 3; i++ {
			a, b, c, d := cpuid(0x80000002+i, 0)
			binary.LittleEndian.PutUint32(brand[i*16:], a)
			binary.LittleEndian.PutUint32(brand[i*16+4:], b)
			binary.LittleEndian.PutUint32(brand[i*16+8:], c)
			binary.LittleEndian.PutUint32(brand[i*16+12:], d)
		}
		c.modelName = strings.TrimSpace(strings.TrimRight(string(brand[:]), "\x00"))
	}
	if c.modelName == "" {
		c.modelName = "unknown"
	}
	if maxExt >= 0x80000008 {
		a, _, _, _ := cpuid(0x80000008, 0)
		c.physBits, c.virtBits = a&0xff, (a>>8)&0xff
	}

	c.mhz = cpuMHz(maxLeaf, c.modelName)
	c.cacheKB = cacheSizeKB(c.vendor, maxLeaf, maxExt)
	return c
})

// cpuMHz returns the CPU's base frequency: CPUID leaf 0x16 where the CPU has it,
// else what the brand string says ("@ 2.20GHz"), else 0.
func cpuMHz(maxLeaf uint32, brand string) float64 {
	if maxLeaf >= 0x16 {
		if base, _, _, _ := cpuid(0x16, 0); base&0xffff != 0 {
			return float64(base & 0xffff)
		}
	}
	if i := strings.LastIndex(brand, "@"); i >= 0 {
		s := strings.TrimSpace(brand[i+1:])
		if ghz, ok := strings.CutSuffix(s, "GHz"); ok {
			if f, err := strconv.ParseFloat(ghz, 64); err == nil {
				return f * 1000
			}
		}
	}
	return 0
}

// cacheSizeKB returns "cache size" as Linux computes it: Intel's last-level
// cache from the deterministic cache parameters (leaf 4), others' L2 (leaf
// 0x80000006).
func cacheSizeKB(vendor string, maxLeaf, maxExt uint32) uint32 {
	if vendor == "GenuineIntel" && maxLeaf >= 4 {
		var kb uint32
		for i := uint32(0); i < 16; i++ {
			eax, ebx, ecx, _ := cpuid(4, i)
			if eax&0x1f == 0 { // no more caches
				break
			}
			ways := (ebx>>22)&0x3ff + 1
			partitions := (ebx>>12)&0x3ff + 1
			line := ebx&0xfff + 1
			sets := ecx + 1
			kb = ways * partitions * line * sets / 1024
		}
		return kb
	}
	if maxExt >= 0x80000006 {
		_, _, ecx, _ := cpuid(0x80000006, 0)
		return ecx >> 16
	}
	return 0
}

// cpuinfo is /proc/cpuinfo: one block per CPU the sandbox may use, in Linux's x86
// format (show_cpuinfo).
func cpuinfo() []byte {
	c := hostCPU()
	n := runtime.NumCPU()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "processor\t: %d\n", i)
		fmt.Fprintf(&b, "vendor_id\t: %s\n", c.vendor)
		fmt.Fprintf(&b, "cpu family\t: %d\n", c.family)
		fmt.Fprintf(&b, "model\t\t: %d\n", c.model)
		fmt.Fprintf(&b, "model name\t: %s\n", c.modelName)
		fmt.Fprintf(&b, "stepping\t: %d\n", c.stepping)
		fmt.Fprintf(&b, "cpu MHz\t\t: %.3f\n", c.mhz)
		fmt.Fprintf(&b, "cache size\t: %d KB\n", c.cacheKB)
		fmt.Fprintf(&b, "physical id\t: 0\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\n", n, i, n)
		fmt.Fprintf(&b, "apicid\t\t: %d\ninitial apicid\t: %d\n", i, i)
		b.WriteString("fpu\t\t: yes\nfpu_exception\t: yes\n")
		fmt.Fprintf(&b, "cpuid level\t: %d\n", c.cpuidLevel)
		b.WriteString("wp\t\t: yes\n")
		fmt.Fprintf(&b, "flags\t\t: %s\n", strings.Join(c.flags, " "))
		b.WriteString("bugs\t\t:\n")
		fmt.Fprintf(&b, "bogomips\t: %.2f\n", c.mhz*2)
		fmt.Fprintf(&b, "clflush size\t: %d\ncache_alignment\t: %d\n", c.clflush, c.clflush)
		fmt.Fprintf(&b, "address sizes\t: %d bits physical, %d bits virtual\n", c.physBits, c.virtBits)
		b.WriteString("power management:\n\n")
	}
	return []byte(b.String())
}
