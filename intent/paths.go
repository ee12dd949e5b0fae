package intent

import "strconv"

// elementPaths names the elements of the list at path: by name where the
// name is valid (so a path stays short and printable) and unique in the
// list, by index otherwise (a duplicate
// name would not say which of the two is meant). Decoding and validation
// both name paths with it, so an element has one path throughout.
func elementPaths(path string, names []string) []string {
	count := make(map[string]int, len(names))
	for _, name := range names {
		count[name]++
	}
	out := make([]string, len(names))
	for i, name := range names {
		if validName(name) && count[name] == 1 {
			out[i] = path + "[" + name + "]"
		} else {
			out[i] = index(path, i)
		}
	}
	return out
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
