package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// v1Controllers are the cgroup v1 controllers a sandbox's cgroup is made in, in the
// order they are created and written.
var v1Controllers = []string{"cpuset", "cpu", "cpuacct", "memory", "pids", "freezer"}

// v2Controllers are the cgroup v2 controllers enabled for a sandbox's cgroup.
var v2Controllers = []string{"cpu", "cpuset", "memory", "pids"}

// mount is one mounted cgroup hierarchy.
type mount struct {
	// point is where it is mounted.
	point string
	// root is the cgroup (from the root of the hierarchy) mounted there: "/" unless
	// the mount is a bind mount or made inside a cgroup namespace.
	root string
}

// hierarchy is what the host offers: which cgroup version, where it is mounted and
// which cgroup this process is in. Tests make one over a fake tree.
type hierarchy struct {
	// version is 1 or 2.
	version int
	// v1 maps a controller to its mount (version 1).
	v1 map[string]mount
	// unified is the cgroup2 mount, if this process is in it (version 2, and on a
	// hybrid version 1 host, where it has no controller Visor uses).
	unified mount
	// own maps a controller (version 1) or "" (version 2) to this process's cgroup.
	own map[string]string
}

// detect reads the host's hierarchy from /proc/self/mountinfo and /proc/self/cgroup.
func detect() (*hierarchy, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading cgroup mounts: %w", err)
	}
	defer mi.Close()
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading own cgroup: %w", err)
	}
	defer cg.Close()
	return parseHierarchy(mi, cg, func(point string) string {
		// Unreadable reads as none: then the v2 mount is not the one to use.
		b, _ := os.ReadFile(filepath.Join(point, "cgroup.controllers"))
		return string(b)
	})
}

// parseHierarchy chooses the cgroup version from the mount table, this process's
// cgroup membership and, through controllers, the cgroup.controllers file at a
// cgroup2 mount point. Version 2 is preferred when its mount offers any controller
// Visor uses; otherwise version 1 when any of them is on a v1 hierarchy (the hybrid
// layout: the controllers are on v1 and the cgroup2 mount beside them has none of
// them); otherwise a bare cgroup2 mount. Version 2 needs a "0::" line.
func parseHierarchy(mountinfo, procCgroup io.Reader, controllers func(point string) string) (*hierarchy, error) {
	h := &hierarchy{v1: map[string]mount{}, own: map[string]string{}}
	var unified *mount
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// "36 35 98:0 /root /mnt rw,noatime master:1 - cgroup cgroup rw,memory"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := mount{point: unescapeMountinfo(f[4]), root: unescapeMountinfo(f[3])}
		switch g[0] {
		case "cgroup2":
			if unified == nil {
				unified = &m
			}
		case "cgroup":
			for _, opt := range strings.Split(g[2], ",") {
				if slices.Contains(v1Controllers, opt) {
					if _, dup := h.v1[opt]; !dup {
						h.v1[opt] = m
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading cgroup mounts: %w", err)
	}

	sc = bufio.NewScanner(procCgroup)
	var unifiedLine bool
	for sc.Scan() {
		// "4:memory:/user.slice" (v1) or "0::/user.slice" (v2).
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unifiedLine = true
			h.own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if slices.Contains(v1Controllers, c) {
				h.own[c] = parts[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading own cgroup: %w", err)
	}

	// A controller counts as v1 only when it is both mounted and this process is in
	// one of its hierarchies: a stale mount of a hierarchy we cannot see is unusable.
	for c := range h.v1 {
		if _, ok := h.own[c]; !ok {
			delete(h.v1, c)
		}
	}
	v2 := unified != nil && unifiedLine
	if v2 {
		h.unified = *unified
	}
	v2Offers := v2 && slices.ContainsFunc(strings.Fields(controllers(unified.point)), func(c string) bool {
		return slices.Contains(v2Controllers, c)
	})
	switch {
	case v2Offers, v2 && len(h.v1) == 0:
		h.version = 2
		h.v1 = nil
	case len(h.v1) > 0:
		h.version = 1
	default:
		return nil, fmt.Errorf("no usable cgroup hierarchy: neither v1 controllers (%s) nor a cgroup2 file system is mounted", strings.Join(v1Controllers, ", "))
	}
	return h, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space, ...) of a mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// dir returns the host directory of cgroup p in the hierarchy mounted at m, where
// this process's cgroup in that hierarchy is own. An absolute p is taken from the
// mount point (as runc does); a relative one is below our own cgroup, which must be
// visible through the mount.
func (m mount) dir(p cgroupPath, own string) (string, error) {
	if !p.relative {
		return filepath.Join(m.point, p.name), nil
	}
	rel := path.Clean("/" + own)
	root := path.Clean("/" + m.root)
	if root != "/" {
		r, ok := strings.CutPrefix(rel, root)
		if !ok || (r != "" && r[0] != '/') {
			return "", fmt.Errorf("own cgroup %q is outside the cgroup mount at %s (root %q)", own, m.point, m.root)
		}
		rel = r
	}
	return filepath.Join(m.point, rel, p.name), nil
}
