package attribute

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

//go:embed data/global_dictionary.txt
var globalDictionaryTxt string

// The file's first line is a comment header; every following line is one
// word, taken literally. Mixer and the proxy generated their tables from the
// YAML by text, without unquoting, so index 94 is the five characters '200'
// (quotes included), not 200; a YAML parser would get those words wrong.
var globalDictionary = sync.OnceValue(func() []string {
	lines := strings.Split(strings.TrimSuffix(globalDictionaryTxt, "\n"), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
		lines = lines[1:]
	}
	return lines
})

// GlobalDictionary returns the 222 words of Mixer's global dictionary
// (istio/api mixer/v1/global_dictionary.yaml, newest version) in index order.
// The wire protocol refers to word i as index i (>= 0); the returned slice is
// a copy.
func GlobalDictionary() []string { return slices.Clone(globalDictionary()) }

// GlobalWord returns global dictionary word i without copying the table.
func GlobalWord(i int) (string, bool) {
	d := globalDictionary()
	if i < 0 || i >= len(d) {
		return "", false
	}
	return d[i], true
}

var globalIndex = sync.OnceValue(func() map[string]int {
	d := globalDictionary()
	m := make(map[string]int, len(d))
	for i, w := range d {
		if _, dup := m[w]; !dup {
			m[w] = i
		}
	}
	return m
})

// GlobalIndex returns the index of word in the global dictionary (its first,
// should it stand twice).
func GlobalIndex(word string) (int, bool) {
	i, ok := globalIndex()[word]
	return i, ok
}
