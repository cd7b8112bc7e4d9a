package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// checkDocument walks a TOML document against Config before it is
// decoded and returns every problem with a key or a value, each as
// "file:line: key: what is wrong" in the config's words: unknown keys,
// values of the wrong type ("build.jobs: want an integer"), durations
// without a unit, values their type's parser refuses. The decoder stops
// at the first of these; this reports them all. A document that does not
// parse returns nothing: the decoder says where it breaks.
func checkDocument(b []byte, name string) []string {
	c := &checker{name: name}
	c.p.Reset(b)
	root := reflect.TypeOf(Config{})
	var table []string
	tableType := root
	for c.p.NextExpression() {
		e := c.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
			var ok bool
			tableType, ok = c.lookup(root, nil, table, c.keyNode(e))
			if !ok {
				tableType = nil
				continue
			}
			if e.Kind == unstable.ArrayTable {
				// [[name]] adds an element to an array of tables.
				if t := deref(tableType); t.Kind() == reflect.Slice && (deref(t.Elem()).Kind() == reflect.Struct || deref(t.Elem()).Kind() == reflect.Map) {
					tableType = t.Elem()
				} else {
					c.addf(c.keyNode(e), table, "want %s, not an array of tables", describe(tableType))
					tableType = nil
				}
			} else if k := deref(tableType).Kind(); k != reflect.Struct && k != reflect.Map {
				c.addf(c.keyNode(e), table, "want %s, not a table", describe(tableType))
				tableType = nil
			}
		case unstable.KeyValue:
			if tableType == nil {
				continue // the table itself is wrong: said once
			}
			c.keyValue(tableType, table, e)
		}
	}
	if c.p.Error() != nil {
		return nil
	}
	return c.problems
}

type checker struct {
	p        unstable.Parser
	name     string
	problems []string
}

// addf records a problem with key, at the line of n.
func (c *checker) addf(n *unstable.Node, key []string, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("%s:%d: %s: ", c.name, c.line(n), strings.Join(key, "."))+fmt.Sprintf(format, args...))
}

func (c *checker) line(n *unstable.Node) int {
	if n.Raw.Length == 0 && n.Raw.Offset == 0 {
		return 0
	}
	return c.p.Shape(n.Raw).Start.Line
}

// keyNode returns the node whose line a key-value or a table header is
// reported at: its key's, as values may span lines.
func (c *checker) keyNode(e *unstable.Node) *unstable.Node {
	it := e.Key()
	if it.Next() {
		return it.Node()
	}
	return e
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// lookup follows key from t, the type of the table at prefix: struct
// fields by their toml tag, any key of a map. An unknown key is a problem
// (reported at n).
func (c *checker) lookup(t reflect.Type, prefix, key []string, n *unstable.Node) (reflect.Type, bool) {
	full := append(append([]string(nil), prefix...), key...)
	for i, part := range key {
		if t = deref(t); t.Kind() == reflect.Slice {
			// A table under [[name]] belongs to its last element.
			if k := deref(t.Elem()).Kind(); k == reflect.Struct || k == reflect.Map {
				t = deref(t.Elem())
			}
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, part)
			if !ok {
				c.problems = append(c.problems, fmt.Sprintf("%s:%d: unknown key %q", c.name, c.line(n), strings.Join(full[:len(prefix)+i+1], ".")))
				return nil, false
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			c.addf(n, full[:len(prefix)+i], "want %s, not a table", describe(t))
			return nil, false
		}
	}
	return t, true
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// keyValue checks one "key = value" in the table of type t at path table.
func (c *checker) keyValue(t reflect.Type, table []string, e *unstable.Node) {
	rel := keyParts(e.Key())
	key := append(append([]string(nil), table...), rel...)
	ft, ok := c.lookup(t, table, rel, c.keyNode(e))
	if !ok {
		return
	}
	c.value(ft, key, e.Value(), c.keyNode(e))
}

var (
	durationType  = reflect.TypeOf(Duration(0))
	byteSizeType  = reflect.TypeOf(ByteSize(0))
	unmarshalerTy = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// describe says what a value of t is written as.
func describe(t reflect.Type) string {
	switch t = deref(t); {
	case t == durationType:
		return `a duration with a unit, such as "90s" or "6h"`
	case t == byteSizeType:
		return `a size: a number of bytes, or a string such as "512MiB"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + plural(t.Elem())
	case reflect.Map:
		return "a table of " + plural(t.Elem())
	case reflect.Struct:
		return "a table"
	}
	return t.String()
}

// plural names the elements of an array or a table.
func plural(t reflect.Type) string {
	d := describe(t)
	for _, a := range []string{"an ", "a "} {
		if rest, ok := strings.CutPrefix(d, a); ok {
			if w, tail, found := strings.Cut(rest, " "); found {
				return w + "s " + tail
			}
			return rest + "s"
		}
	}
	return d
}

// found names what a value node is, for "want X, not Y".
func found(n *unstable.Node) string {
	switch n.Kind {
	case unstable.String:
		return fmt.Sprintf("the string %q", n.Data)
	case unstable.Integer:
		return "the integer " + string(n.Data)
	case unstable.Float:
		return "the number " + string(n.Data)
	case unstable.Bool:
		return string(n.Data)
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	}
	return "a date or time"
}

// value checks the value node v (at the position of pos) against t.
func (c *checker) value(t reflect.Type, key []string, v, pos *unstable.Node) {
	t = deref(t)
	wrong := func() { c.addf(pos, key, "want %s, not %s", describe(t), found(v)) }
	switch {
	case t == durationType && v.Kind == unstable.Integer:
		c.addf(pos, key, "want a duration with a unit, such as \"%ss\" or \"6h\", not the bare number %s", v.Data, v.Data)
		return
	case t == byteSizeType && v.Kind == unstable.Integer:
		return
	case reflect.PointerTo(t).Implements(unmarshalerTy):
		if v.Kind != unstable.String {
			wrong()
			return
		}
		u := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText(v.Data); err != nil {
			c.addf(pos, key, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if v.Kind != unstable.String {
			wrong()
		}
	case reflect.Bool:
		if v.Kind != unstable.Bool {
			wrong()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Kind != unstable.Integer {
			wrong()
		}
	case reflect.Float32, reflect.Float64:
		if v.Kind != unstable.Integer && v.Kind != unstable.Float {
			wrong()
		}
	case reflect.Slice, reflect.Array:
		if v.Kind != unstable.Array {
			wrong()
			return
		}
		i := 0
		for it := v.Children(); it.Next(); i++ {
			if it.Node().Kind == unstable.Comment {
				i--
				continue
			}
			el := append(key[:len(key)-1:len(key)-1], fmt.Sprintf("%s[%d]", key[len(key)-1], i))
			c.value(t.Elem(), el, it.Node(), pos)
		}
	case reflect.Map, reflect.Struct:
		if v.Kind != unstable.InlineTable {
			wrong()
			return
		}
		for it := v.Children(); it.Next(); {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				c.keyValue(t, key, kv)
			}
		}
	}
}
