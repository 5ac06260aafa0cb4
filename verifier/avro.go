package main

// Just enough Avro to read an AuditRecord from its single-object encoding and render its v0
// form (docs/audit-format.md, section 2.2): parsing canonical form and CRC-64-AVRO to match
// the fingerprint in the header, the binary decoder, and the JSON rendering the 0.1.0 chain
// hashes. Written from the Avro specification, not from FaceGate's Python.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

var primitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true}

// Schema is one writer schema: its JSON, its named types by full name, its fingerprint.
type Schema struct {
	Version     string
	JSON        any
	Named       map[string]map[string]any
	Fingerprint [8]byte
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func spaceOf(full string) string {
	if i := strings.LastIndex(full, "."); i >= 0 {
		return full[:i]
	}
	return ""
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// canonical writes the Parsing Canonical Form and collects named types.
func canonical(s any, ns string, named map[string]map[string]any) (string, error) {
	switch t := s.(type) {
	case string:
		if primitives[t] {
			return quote(t), nil
		}
		return quote(fullName(t, ns)), nil
	case []any:
		parts := make([]string, len(t))
		for i, branch := range t {
			p, err := canonical(branch, ns, named)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "[" + strings.Join(parts, ",") + "]", nil
	case map[string]any:
		return canonicalObject(t, ns, named)
	}
	return "", fmt.Errorf("unreadable schema fragment %v", s)
}

func canonicalObject(o map[string]any, ns string, named map[string]map[string]any) (string, error) {
	kind, ok := o["type"].(string)
	if !ok {
		return canonical(o["type"], ns, named)
	}
	if primitives[kind] {
		return quote(kind), nil // a logical type is an attribute, stripped
	}
	switch kind {
	case "array":
		items, err := canonical(o["items"], ns, named)
		return `{"type":"array","items":` + items + "}", err
	case "map":
		values, err := canonical(o["values"], ns, named)
		return `{"type":"map","values":` + values + "}", err
	}
	name, _ := o["name"].(string)
	space, _ := o["namespace"].(string)
	if space == "" {
		space = ns
	}
	full := fullName(name, space)
	if _, seen := named[full]; seen {
		return quote(full), nil
	}
	named[full] = o
	head := `{"name":` + quote(full) + `,"type":` + quote(kind)
	switch kind {
	case "enum":
		symbols, _ := json.Marshal(o["symbols"])
		return head + `,"symbols":` + string(symbols) + "}", nil
	case "fixed":
		size, _ := o["size"].(float64)
		return head + `,"size":` + strconv.Itoa(int(size)) + "}", nil
	case "record", "error":
		fields, _ := o["fields"].([]any)
		parts := make([]string, len(fields))
		for i, f := range fields {
			field, _ := f.(map[string]any)
			fname, _ := field["name"].(string)
			ftype, err := canonical(field["type"], spaceOf(full), named)
			if err != nil {
				return "", err
			}
			parts[i] = `{"name":` + quote(fname) + `,"type":` + ftype + "}"
		}
		return head + `,"fields":[` + strings.Join(parts, ",") + "]}", nil
	}
	return "", fmt.Errorf("unknown schema type %q", kind)
}

var crcTable = func() (t [256]uint64) {
	const empty = 0xc15d213aa4d7a795
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (empty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()

// fingerprint is CRC-64-AVRO, little-endian as single-object encoding writes it.
func fingerprint(text string) [8]byte {
	fp := uint64(0xc15d213aa4d7a795)
	for i := 0; i < len(text); i++ {
		fp = (fp >> 8) ^ crcTable[byte(fp)^text[i]]
	}
	var out [8]byte
	binary.LittleEndian.PutUint64(out[:], fp)
	return out
}

// NewSchema parses a writer schema and checks it has the fingerprint claimed for it.
func NewSchema(version string, schema any, claimed string) (*Schema, error) {
	named := map[string]map[string]any{}
	text, err := canonical(schema, "", named)
	if err != nil {
		return nil, err
	}
	s := &Schema{Version: version, JSON: schema, Named: named, Fingerprint: fingerprint(text)}
	if fmt.Sprintf("%x", s.Fingerprint[:]) != claimed {
		return nil, fmt.Errorf("schema %s has fingerprint %x, not %s", version, s.Fingerprint[:], claimed)
	}
	return s, nil
}

type millis int64  // a timestamp-millis long
type symbol string // an enum symbol

// Record is a decoded record: its fields in schema order and their values.
type Record struct {
	Fields []string
	Values map[string]any
}

type reader struct {
	b      []byte
	pos    int
	schema *Schema
}

var errShort = errors.New("datum ends early")

func (r *reader) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.b) {
			return 0, errShort
		}
		c := r.b[r.pos]
		r.pos++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint too long")
}

func (r *reader) bytes() ([]byte, error) {
	n, err := r.long()
	if err != nil {
		return nil, err
	}
	if n < 0 || int64(len(r.b)-r.pos) < n {
		return nil, errShort
	}
	out := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return out, nil
}

func (r *reader) value(s any, ns string) (any, error) {
	switch t := s.(type) {
	case string:
		if !primitives[t] {
			o, ok := r.schema.Named[fullName(t, ns)]
			if !ok {
				return nil, fmt.Errorf("unknown type %s", t)
			}
			return r.value(o, spaceOf(fullName(t, ns)))
		}
		return r.primitive(t)
	case []any:
		i, err := r.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(t) {
			return nil, errors.New("union branch out of range")
		}
		return r.value(t[i], ns)
	case map[string]any:
		return r.object(t, ns)
	}
	return nil, fmt.Errorf("unreadable schema %v", s)
}

func (r *reader) primitive(kind string) (any, error) {
	switch kind {
	case "null":
		return nil, nil
	case "boolean":
		if r.pos >= len(r.b) {
			return nil, errShort
		}
		r.pos++
		return r.b[r.pos-1] != 0, nil
	case "int", "long":
		return r.long()
	case "float":
		if len(r.b)-r.pos < 4 {
			return nil, errShort
		}
		r.pos += 4
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(r.b[r.pos-4:]))), nil
	case "double":
		if len(r.b)-r.pos < 8 {
			return nil, errShort
		}
		r.pos += 8
		return math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.pos-8:])), nil
	case "bytes":
		return r.bytes()
	case "string":
		b, err := r.bytes()
		if err == nil && !utf8.Valid(b) {
			err = errors.New("a string is not UTF-8")
		}
		return string(b), err
	}
	return nil, fmt.Errorf("unknown primitive %s", kind)
}

func (r *reader) object(o map[string]any, ns string) (any, error) {
	kind, ok := o["type"].(string)
	if !ok {
		return r.value(o["type"], ns)
	}
	if primitives[kind] {
		v, err := r.primitive(kind)
		if o["logicalType"] == "timestamp-millis" && kind == "long" && err == nil {
			return millis(v.(int64)), nil
		}
		return v, err
	}
	space, _ := o["namespace"].(string)
	if space == "" {
		space = ns
	}
	name, _ := o["name"].(string)
	inner := spaceOf(fullName(name, space))
	switch kind {
	case "array":
		return r.array(o["items"], ns)
	case "enum":
		i, err := r.long()
		symbols, _ := o["symbols"].([]any)
		if err != nil || i < 0 || int(i) >= len(symbols) {
			return nil, errors.New("enum index out of range")
		}
		return symbol(symbols[i].(string)), nil
	case "record":
		rec := Record{Values: map[string]any{}}
		fields, _ := o["fields"].([]any)
		for _, f := range fields {
			field := f.(map[string]any)
			fname := field["name"].(string)
			v, err := r.value(field["type"], inner)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fname, err)
			}
			rec.Fields = append(rec.Fields, fname)
			rec.Values[fname] = v
		}
		return rec, nil
	}
	return nil, fmt.Errorf("unsupported type %s", kind)
}

func (r *reader) array(items any, ns string) (any, error) {
	out := []any{}
	for {
		n, err := r.long()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		if n < 0 { // a block with its byte size
			n = -n
			if _, err := r.long(); err != nil {
				return nil, err
			}
		}
		for range n {
			v, err := r.value(items, ns)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
}

// DecodeRecord reads single-object encoding with the writer schema its fingerprint names.
func DecodeRecord(value []byte, schemas []*Schema) (Record, *Schema, error) {
	if len(value) < 10 || value[0] != 0xc3 || value[1] != 0x01 {
		return Record{}, nil, errors.New("not Avro single-object encoding")
	}
	for _, s := range schemas {
		if string(s.Fingerprint[:]) != string(value[2:10]) {
			continue
		}
		r := &reader{b: value, pos: 10, schema: s}
		v, err := r.value(s.JSON, "")
		if err != nil {
			return Record{}, s, err
		}
		if r.pos != len(value) {
			return Record{}, s, errors.New("bytes after the datum")
		}
		rec, ok := v.(Record)
		if !ok {
			return Record{}, s, errors.New("not a record")
		}
		return rec, s, nil
	}
	return Record{}, nil, fmt.Errorf("unknown schema fingerprint %x", value[2:10])
}

// V0 renders the bytes the 0.1.0 chain hashes (docs/audit-format.md, section 2.2).
func V0(rec Record) ([]byte, error) {
	keys := []string{}
	for _, f := range rec.Fields {
		switch f {
		case "seq", "prev_hash", "hash", "signature", "key_id":
		default:
			keys = append(keys, f)
		}
	}
	keys = append(keys, "seq", "prev_hash")
	sort.Strings(keys)
	var out strings.Builder
	out.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(pyString(k) + ":")
		if err := render(&out, rec.Values[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	out.WriteByte('}')
	return []byte(out.String()), nil
}

func render(out *strings.Builder, v any) error {
	switch t := v.(type) {
	case nil:
		out.WriteString("null")
	case string:
		out.WriteString(pyString(t))
	case symbol:
		out.WriteString(pyString(string(t)))
	case int64:
		out.WriteString(strconv.FormatInt(t, 10))
	case millis:
		s, err := pyTime(int64(t))
		if err != nil {
			return err
		}
		out.WriteString(pyString(s))
	case []any:
		out.WriteByte('[')
		for i, item := range t {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := render(out, item); err != nil {
				return err
			}
		}
		out.WriteByte(']')
	default:
		return fmt.Errorf("no v0 rendering for %T", v)
	}
	return nil
}

// pyString is a JSON string as Python's json.dumps writes it with ensure_ascii.
func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				b.WriteRune(r)
			case r > 0xffff:
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyTime is a timestamp-millis as pydantic 2 renders a UTC datetime.
func pyTime(ms int64) (string, error) {
	t := time.UnixMilli(ms).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return "", errors.New("a time outside the years 1-9999")
	}
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z"), nil
	}
	return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%03d000Z", t.Nanosecond()/1e6), nil
}
