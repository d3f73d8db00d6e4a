package cgroup

import (
	"fmt"
	"path"
	"strings"
)

// cgroupPath is where a sandbox's cgroup goes, as config.json's linux.cgroupsPath says.
type cgroupPath struct {
	// name is a clean slash-separated path without "..": absolute (from the root of
	// each hierarchy) or relative (below the cgroup runsc itself is in).
	name string
	// relative says name is below runsc's own cgroup.
	relative bool
}

// resolvePath turns linux.cgroupsPath into a cgroupPath. An empty path means
// "/visor/<id>". A path with colons is systemd's "slice:prefix:name" form; it is
// mapped onto the file system where systemd would put the unit: the slice expanded
// ("a-b.slice" is "a.slice/a-b.slice", the default slice is "system.slice"), then
// "prefix-name.scope" (or the name itself when it is a slice).
func resolvePath(spec string, id string) (cgroupPath, error) {
	if spec == "" {
		if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
			return cgroupPath{}, fmt.Errorf("container id %q cannot name a cgroup", id)
		}
		return cgroupPath{name: "/visor/" + id}, nil
	}
	if strings.Contains(spec, ":") {
		name, err := systemdPath(spec)
		if err != nil {
			return cgroupPath{}, fmt.Errorf("config.json linux.cgroupsPath %q: %w", spec, err)
		}
		return cgroupPath{name: name}, nil
	}
	if strings.ContainsRune(spec, 0) {
		return cgroupPath{}, fmt.Errorf("config.json linux.cgroupsPath %q: contains a NUL byte", spec)
	}
	// ".." could climb out of the hierarchy (or out of our own cgroup for a relative
	// path); no real runtime configuration needs it.
	for _, c := range strings.Split(spec, "/") {
		if c == ".." {
			return cgroupPath{}, fmt.Errorf("config.json linux.cgroupsPath %q: \"..\" is not allowed", spec)
		}
	}
	p := cgroupPath{name: path.Clean(spec), relative: !path.IsAbs(spec)}
	if p.name == "/" || p.name == "." {
		return cgroupPath{}, fmt.Errorf("config.json linux.cgroupsPath %q: names no cgroup of its own", spec)
	}
	return p, nil
}

// systemdPath maps "slice:prefix:name" to the cgroup path systemd gives that unit.
func systemdPath(spec string) (string, error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("systemd form must be \"slice:prefix:name\", got %d parts", len(parts))
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if name == "" {
		return "", fmt.Errorf("systemd form \"slice:prefix:name\" needs a name")
	}
	for _, s := range []string{slice, prefix, name} {
		if strings.ContainsAny(s, "/\x00") || s == "." || s == ".." {
			return "", fmt.Errorf("%q is not a valid systemd unit name part", s)
		}
	}
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", err
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		unit = name + ".scope"
		if prefix != "" {
			unit = prefix + "-" + unit
		}
	}
	return path.Join(dir, unit), nil
}

// expandSlice returns the path of a systemd slice: each dash-separated prefix of its
// name is a parent slice, e.g. "a-b.slice" is "/a.slice/a-b.slice"; "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	const suffix = ".slice"
	base, ok := strings.CutSuffix(slice, suffix)
	if !ok || base == "" {
		return "", fmt.Errorf("invalid systemd slice name %q: must end in %q", slice, suffix)
	}
	if base == "-" {
		return "/", nil
	}
	var dir, prefix strings.Builder
	for _, c := range strings.Split(base, "-") {
		if c == "" {
			return "", fmt.Errorf("invalid systemd slice name %q: empty component", slice)
		}
		dir.WriteString("/" + prefix.String() + c + suffix)
		prefix.WriteString(c + "-")
	}
	return dir.String(), nil
}
