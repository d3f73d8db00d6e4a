package vfs

import "strings"

// GenericParseMountOptions parses mount(2)'s data argument, comma-separated options
// each "key" or "key=value", into a map; "key" alone maps to "". Later options
// override earlier ones.
func GenericParseMountOptions(str string) map[string]string {
	m := make(map[string]string)
	for _, opt := range strings.Split(str, ",") {
		if opt == "" {
			continue
		}
		key, value, _ := strings.Cut(opt, "=")
		m[key] = value
	}
	return m
}
