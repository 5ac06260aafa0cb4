package main

// The transparency log side of docs/audit-format.md: key sets (section 7), signed notes opened
// with golang.org/x/mod/sumdb/note (section 4), checkpoints (5), completeness notes (6),
// trees and proofs with golang.org/x/mod/sumdb/tlog (3), pruned prefixes (9), receipts (8).

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Finding codes (docs/audit-format.md, section 11).
const (
	Tampered     = "tampered-record"
	Missing      = "missing-leaves"
	Inconsistent = "inconsistent"
	PartMissing  = "partition-missing"
	Stale        = "stale"
	BadSignature = "bad-signature"
	UnknownKey   = "unknown-key"
	OutsideValid = "key-outside-validity"
	Revoked      = "revoked-key"
	Malformed    = "malformed"
	Pruned       = "pruned-before-checkpoint"
)

type Finding struct{ Code, Detail string }

func find(code, format string, args ...any) Finding {
	return Finding{code, fmt.Sprintf(format, args...)}
}

var (
	timePattern    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	decimalPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)
	keyIDPattern   = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

const timeLayout = "2006-01-02T15:04:05.000Z"

// clockSkew is how far a signed time may be ahead of the verifier's clock: a note dated later
// would keep the stale check quiet until then (sections 6 and 11).
const clockSkew = 5 * time.Minute

func parseTime(s string) (time.Time, error) {
	if !timePattern.MatchString(s) {
		return time.Time{}, fmt.Errorf("time %q is not YYYY-MM-DDTHH:MM:SS.mmmZ", s)
	}
	t, err := time.Parse(timeLayout, s)
	if err == nil && t.Year() < 1 { // time.Parse takes year 0000; Python's datetime (and the spec) do not
		return time.Time{}, fmt.Errorf("time %q is not a real date", s)
	}
	return t, err
}

func parseDecimal(s string) (int64, error) {
	if !decimalPattern.MatchString(s) {
		return 0, fmt.Errorf("%q is not a decimal", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

// unb64 decodes standard base64 that re-encodes to the same text.
func unb64(s string, size int) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s || (size >= 0 && len(b) != size) {
		return nil, fmt.Errorf("not canonical base64 of %d bytes", size)
	}
	return b, nil
}

func hash32(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := unb64(s, 32)
	copy(h[:], b)
	return h, err
}

func validName(name string) bool {
	return name != "" && !strings.Contains(name, "+") && strings.IndexFunc(name, unicode.IsSpace) < 0
}

// keyID is sumdb/note's key hash for an Ed25519 key.
func keyID(name string, public []byte) uint32 {
	sum := sha256.Sum256(append(append([]byte(name+"\n"), 0x01), public...))
	return binary.BigEndian.Uint32(sum[:4])
}

// Key is one entry of the key set.
type Key struct {
	Name                  string
	ID                    uint32
	Public                []byte
	VKey                  string
	ValidFrom             time.Time
	ValidUntil, RevokedAt *time.Time
}

func (k Key) at(t time.Time) []Finding {
	where := fmt.Sprintf("key %08x at %s", k.ID, t.Format(timeLayout))
	if k.RevokedAt != nil && !t.Before(*k.RevokedAt) {
		return []Finding{find(Revoked, "%s: revoked", where)}
	}
	if t.Before(k.ValidFrom) || (k.ValidUntil != nil && !t.Before(*k.ValidUntil)) {
		return []Finding{find(OutsideValid, "%s: outside its validity", where)}
	}
	return nil
}

// KeySet is the regulator's key set.
type KeySet struct {
	Log       string
	Keys      []Key
	verifiers note.Verifiers
}

// members reads a JSON object's members exactly as they are spelled: a name not allowed, or
// given twice, is an error. encoding/json alone matches struct fields case-insensitively and
// keeps the last of a repeated name, so one document could read one way here and another in
// Python; every document this verifier reads goes through here.
func members(raw json.RawMessage, allowed ...string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("not a JSON object")
		}
		name, _ := t.(string)
		if !slices.Contains(allowed, name) {
			return nil, fmt.Errorf("unknown member %q", name)
		}
		if _, repeated := m[name]; repeated {
			return nil, fmt.Errorf("member %q is repeated", name)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("member %q: %v", name, err)
		}
		m[name] = value
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// decodeStrict decodes an object with exactly the members `names` (each once, spelled so) into v,
// whose fields carry those names; nested objects must be checked by their own decodeStrict.
func decodeStrict(raw []byte, v any, names ...string) error {
	m, err := members(raw, names...)
	if err != nil {
		return err
	}
	if len(m) != len(names) {
		return fmt.Errorf("an object has the members %s", strings.Join(names, ", "))
	}
	for name, value := range m {
		if string(value) == "null" { // encoding/json would leave the field as it was; Python refuses it
			return fmt.Errorf("member %q is null", name)
		}
	}
	return json.Unmarshal(raw, v)
}

func text(m map[string]json.RawMessage, name string) (string, error) {
	var s string
	if err := json.Unmarshal(m[name], &s); err != nil || m[name] == nil {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return s, nil
}

func optionalTime(m map[string]json.RawMessage, name string) (*time.Time, error) {
	if raw, ok := m[name]; !ok || string(raw) == "null" {
		return nil, nil
	}
	s, err := text(m, name)
	if err != nil {
		return nil, err
	}
	t, err := parseTime(s)
	return &t, err
}

// LoadKeySet reads a key set strictly (section 7); any error means malformed.
func LoadKeySet(raw []byte) (*KeySet, error) {
	top, err := members(raw, "format", "log", "keys")
	if err != nil {
		return nil, err
	}
	format, err1 := text(top, "format")
	log, err2 := text(top, "log")
	var entries []json.RawMessage
	err3 := json.Unmarshal(top["keys"], &entries)
	if err := errors.Join(err1, err2, err3); err != nil || len(top) != 3 {
		return nil, errors.New("a key set has format, log and keys")
	}
	if format != "facegate-keyset/v1" || !validName(log) || len(entries) == 0 {
		return nil, errors.New("not a facegate-keyset/v1 with a log name and keys")
	}
	ks := &KeySet{Log: log}
	list := []note.Verifier{}
	seen := map[uint32]bool{}
	for _, entry := range entries {
		key, err := loadKey(entry, log)
		if err != nil {
			return nil, err
		}
		if seen[key.ID] {
			return nil, fmt.Errorf("two keys with id %08x", key.ID)
		}
		seen[key.ID] = true
		v, err := note.NewVerifier(key.VKey)
		if err != nil {
			return nil, fmt.Errorf("key %08x: %v", key.ID, err)
		}
		ks.Keys = append(ks.Keys, key)
		list = append(list, v)
	}
	ks.verifiers = note.VerifierList(list...)
	return ks, nil
}

func loadKey(raw json.RawMessage, log string) (Key, error) {
	m, err := members(raw, "name", "key_id", "algorithm", "public_key", "vkey", "valid_from", "valid_until", "revoked_at")
	if err != nil {
		return Key{}, err
	}
	var k Key
	var id, algorithm, public, from string
	var errs [7]error
	k.Name, errs[0] = text(m, "name")
	id, errs[1] = text(m, "key_id")
	algorithm, errs[2] = text(m, "algorithm")
	public, errs[3] = text(m, "public_key")
	k.VKey, errs[4] = text(m, "vkey")
	from, errs[5] = text(m, "valid_from")
	k.ValidUntil, errs[6] = optionalTime(m, "valid_until")
	if err := errors.Join(errs[:]...); err != nil {
		return Key{}, err
	}
	if k.RevokedAt, err = optionalTime(m, "revoked_at"); err != nil {
		return Key{}, err
	}
	if k.ValidFrom, err = parseTime(from); err != nil {
		return Key{}, err
	}
	if k.Public, err = unb64(public, 32); err != nil || algorithm != "ed25519" || k.Name != log {
		return Key{}, errors.New("a key is an ed25519 key named like the log")
	}
	k.ID = keyID(k.Name, k.Public)
	want := fmt.Sprintf("%s+%08x+%s", k.Name, k.ID, base64.StdEncoding.EncodeToString(append([]byte{1}, k.Public...)))
	if id != fmt.Sprintf("%08x", k.ID) || !keyIDPattern.MatchString(id) || k.VKey != want {
		return Key{}, fmt.Errorf("key %s: key_id or vkey is not that of its name and key", id)
	}
	if k.ValidUntil != nil && !k.ValidUntil.After(k.ValidFrom) {
		return Key{}, fmt.Errorf("key %s: valid_until is not after valid_from", id)
	}
	return k, nil
}

// Open opens a signed note as note.Open does; it returns the text and the keys that signed it.
func (ks *KeySet) Open(msg []byte) (string, []Key, []Finding) {
	n, err := note.Open(msg, ks.verifiers)
	var invalid *note.InvalidSignatureError
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &invalid):
		return "", nil, []Finding{find(BadSignature, "%v", err)}
	case errors.As(err, &unverified):
		return "", nil, []Finding{find(UnknownKey, "no signature by a key of the key set")}
	case err != nil:
		return "", nil, []Finding{find(Malformed, "%v", err)}
	}
	var signers []Key
	for _, sig := range n.Sigs {
		for _, k := range ks.Keys {
			if k.Name == sig.Name && k.ID == sig.Hash {
				signers = append(signers, k)
			}
		}
	}
	return n.Text, signers, nil
}

func judge(signers []Key, t time.Time) []Finding {
	var out []Finding
	for _, k := range signers {
		out = append(out, k.at(t)...)
	}
	return out
}

// Checkpoint is a partition's checkpoint body (section 5).
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Time   time.Time
}

func ParseCheckpoint(body string) (*Checkpoint, error) {
	lines := strings.Split(body, "\n")
	if len(lines) != 5 || lines[4] != "" || lines[0] == "" || !strings.HasPrefix(lines[3], "time ") {
		return nil, errors.New("a checkpoint is origin, size, root and time lines")
	}
	size, err1 := parseDecimal(lines[1])
	root, err2 := hash32(lines[2])
	at, err3 := parseTime(lines[3][5:])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return &Checkpoint{lines[0], size, root, at}, nil
}

// CheckCheckpoint opens, parses and judges a checkpoint of `partition` (or any, if negative).
func (ks *KeySet) CheckCheckpoint(msg []byte, partition int64) (*Checkpoint, []Finding) {
	body, signers, findings := ks.Open(msg)
	if findings != nil {
		return nil, findings
	}
	cp, err := ParseCheckpoint(body)
	if err != nil {
		return nil, []Finding{find(Malformed, "%v", err)}
	}
	prefix, number, _ := cutLast(cp.Origin, "/")
	p, err := parseDecimal(number)
	if prefix != ks.Log || err != nil || (partition >= 0 && p != partition) {
		return nil, []Finding{find(Malformed, "origin %q is not %s/%d", cp.Origin, ks.Log, partition)}
	}
	return cp, judge(signers, cp.Time)
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// Head is one partition's line in a completeness note.
type Head struct {
	Size int64
	Root tlog.Hash
}

// Completeness is a completeness note body (section 6).
type Completeness struct {
	Time  time.Time
	Heads []Head
}

func (ks *KeySet) CheckCompleteness(msg []byte) (*Completeness, []Finding) {
	body, signers, findings := ks.Open(msg)
	if findings != nil {
		return nil, findings
	}
	c, err := parseCompleteness(body, ks.Log+"/completeness")
	if err != nil {
		return nil, []Finding{find(Malformed, "%v", err)}
	}
	return c, judge(signers, c.Time)
}

func parseCompleteness(body, origin string) (*Completeness, error) {
	lines := strings.Split(body, "\n")
	if len(lines) < 5 || lines[len(lines)-1] != "" || lines[0] != origin ||
		!strings.HasPrefix(lines[1], "time ") || !strings.HasPrefix(lines[2], "partitions ") {
		return nil, errors.New("a completeness note is origin, time, partitions and partition lines")
	}
	at, err := parseTime(lines[1][5:])
	if err != nil {
		return nil, err
	}
	count, err := parseDecimal(lines[2][11:])
	if err != nil || count != int64(len(lines)-4) {
		return nil, errors.New("the partition count does not match the lines")
	}
	c := &Completeness{Time: at}
	for p, line := range lines[3 : len(lines)-1] {
		fields := strings.Split(line, " ")
		if len(fields) != 3 || fields[0] != strconv.Itoa(p) {
			return nil, fmt.Errorf("line for partition %d", p)
		}
		size, err1 := parseDecimal(fields[1])
		root, err2 := hash32(fields[2])
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		c.Heads = append(c.Heads, Head{size, root})
	}
	return c, nil
}

// store holds a tree's hashes by sumdb/tlog storage index; it may start from a frontier.
type store struct {
	n      int64
	hashes map[int64]tlog.Hash
}

func (s *store) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		h, ok := s.hashes[index]
		if !ok {
			return nil, fmt.Errorf("hash %d is pruned", index)
		}
		out[i] = h
	}
	return out, nil
}

func (s *store) append(leaf tlog.Hash) error {
	hashes, err := tlog.StoredHashesForRecordHash(s.n, leaf, s)
	if err != nil {
		return err
	}
	base := tlog.StoredHashIndex(0, s.n)
	for i, h := range hashes {
		s.hashes[base+int64(i)] = h
	}
	s.n++
	return nil
}

// newStore starts a tree at `size` leaves from the frontier of that size (section 3).
func newStore(size int64, frontier []tlog.Hash) (*store, error) {
	s := &store{n: size, hashes: map[int64]tlog.Hash{}}
	lo, i := int64(0), 0
	for level := 62; level >= 0; level-- {
		if size&(1<<level) == 0 {
			continue
		}
		if i >= len(frontier) {
			return nil, errors.New("the frontier is short")
		}
		s.hashes[tlog.StoredHashIndex(level, lo>>level)] = frontier[i]
		lo += 1 << level
		i++
	}
	if i != len(frontier) {
		return nil, errors.New("the frontier is long")
	}
	return s, nil
}

// Anchor is the frontier of a pruned prefix (section 9).
type Anchor struct {
	Size   int64    `json:"size"`
	Hashes []string `json:"hashes"`
}

// CheckLeaves: do the leaves from the anchor on give the signed root?
func CheckLeaves(leaves map[int64]tlog.Hash, size int64, root tlog.Hash, anchor *Anchor) []Finding {
	var start int64
	var frontier []tlog.Hash
	if anchor != nil {
		start = anchor.Size
		for _, h := range anchor.Hashes {
			x, err := hash32(h)
			if err != nil {
				return []Finding{find(Malformed, "anchor: %v", err)}
			}
			frontier = append(frontier, x)
		}
	}
	if start > size {
		return []Finding{find(Malformed, "the anchor is beyond the checkpoint")}
	}
	var out []Finding
	if start > 0 {
		out = append(out, find(Pruned, "leaves 0..%d pruned", start-1))
	}
	for i := start; i < size; i++ {
		if _, ok := leaves[i]; !ok {
			return append(out, find(Missing, "leaf %d is absent", i))
		}
	}
	s, err := newStore(start, frontier)
	if err != nil {
		return append(out, find(Malformed, "anchor: %v", err))
	}
	for i := start; i < size; i++ {
		if err := s.append(leaves[i]); err != nil {
			return append(out, find(Malformed, "%v", err))
		}
	}
	got, err := tlog.TreeHash(size, s)
	if err != nil || got != root {
		out = append(out, find(Tampered, "leaves %d..%d do not give the signed root", start, size-1))
	}
	return out
}

var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// Consistent checks a consistency proof (RFC 9162 2.1.4) with sumdb/tlog.
func Consistent(m, n int64, first, second tlog.Hash, proof []tlog.Hash) bool {
	switch {
	case m < 0 || m > n:
		return false
	case m == 0:
		return len(proof) == 0 && first == emptyRoot
	}
	return tlog.CheckTree(proof, n, second, m, first) == nil
}

// CheckConsistency: the older head must be a prefix of the newer.
func CheckConsistency(older, newer Head, proof []tlog.Hash) []Finding {
	switch {
	case older.Size > newer.Size:
		return []Finding{find(Inconsistent, "size went back from %d to %d", older.Size, newer.Size)}
	case older.Size == newer.Size && older.Root != newer.Root:
		return []Finding{find(Inconsistent, "two roots for size %d", older.Size)}
	case older.Size < newer.Size && !Consistent(older.Size, newer.Size, older.Root, newer.Root, proof):
		return []Finding{find(Inconsistent, "no valid consistency proof from %d to %d", older.Size, newer.Size)}
	}
	return nil
}

// CheckSeries applies section 6's rules to completeness notes in time order.
func CheckSeries(notes []*Completeness, now time.Time, maxAge time.Duration) []Finding {
	var out []Finding
	for i := 1; i < len(notes); i++ {
		prev, cur := notes[i-1], notes[i]
		if !cur.Time.After(prev.Time) {
			out = append(out, find(Inconsistent, "time does not advance"))
		}
		for p, head := range prev.Heads {
			if p >= len(cur.Heads) {
				out = append(out, find(PartMissing, "partition %d is gone", p))
			} else if head.Size >= cur.Heads[p].Size {
				out = append(out, CheckConsistency(head, cur.Heads[p], nil)...)
			}
		}
	}
	for _, c := range notes {
		if c.Time.After(now.Add(clockSkew)) {
			out = append(out, find(Inconsistent, "note of %s is dated after the time of verification", c.Time.Format(timeLayout)))
		}
	}
	if len(notes) > 0 && now.Sub(notes[len(notes)-1].Time) > maxAge {
		out = append(out, find(Stale, "the newest completeness note is old"))
	}
	return out
}

// CheckPartitions compares the log's data (leaf hashes by partition and index) with a note.
func CheckPartitions(c *Completeness, data map[int64]map[int64]tlog.Hash) []Finding {
	var out []Finding
	for p, head := range c.Heads {
		leaves, ok := data[int64(p)]
		if !ok && head.Size > 0 {
			out = append(out, find(PartMissing, "partition %d holds %d leaves but is gone", p, head.Size))
			continue
		}
		out = append(out, CheckLeaves(leaves, head.Size, head.Root, nil)...)
	}
	for p := range data {
		if p >= int64(len(c.Heads)) {
			out = append(out, find(PartMissing, "partition %d has records but no line", p))
		}
	}
	return out
}

// CheckChainV0 checks a partition's records as the 0.1.0 chain did (section 2.2).
func CheckChainV0(values [][]byte, schemas []*Schema) []Finding {
	var out []Finding
	var seq int64
	var head string
	first, ended := true, false
	for i, value := range values {
		rec, _, err := DecodeRecord(value, schemas)
		if err != nil {
			out = append(out, find(Malformed, "record %d: %v", i, err))
			continue
		}
		s, _ := rec.Values["seq"].(int64)
		hash, _ := rec.Values["hash"].(string)
		prev, _ := rec.Values["prev_hash"].(string)
		if ended || hash == "" {
			if hash != "" {
				out = append(out, find(Tampered, "seq %d: a v0 hash after the chain ended", s))
			}
			ended = true
			continue
		}
		v0, err := V0(rec)
		if err != nil {
			out = append(out, find(Malformed, "record %d: %v", i, err))
			continue
		}
		if fmt.Sprintf("%x", sha256.Sum256(v0)) != hash {
			out = append(out, find(Tampered, "seq %d: content does not match its hash", s))
		}
		switch {
		case first && s == 0 && prev == strings.Repeat("0", 64):
		case first && s > 0:
			out = append(out, find(Pruned, "the chain starts at seq %d", s))
		case first:
			out = append(out, find(Tampered, "seq 0 does not link to the genesis hash"))
		case s > seq+1:
			out = append(out, find(Missing, "seq %d follows seq %d", s, seq))
		case s != seq+1 || prev != head:
			out = append(out, find(Tampered, "seq %d does not link to seq %d", s, seq))
		}
		first, seq, head = false, s, hash
	}
	return out
}

// Receipt is a facegate-receipt/v1 document (section 8).
type Receipt struct {
	Format         string   `json:"format"`
	EventID        string   `json:"event_id"`
	Partition      int64    `json:"partition"`
	LeafIndex      int64    `json:"leaf_index"`
	Record         string   `json:"record"`
	InclusionProof []string `json:"inclusion_proof"`
	Checkpoint     string   `json:"checkpoint"`
}

// CheckReceipt verifies a receipt offline against a key set.
func (ks *KeySet) CheckReceipt(raw []byte, schemas []*Schema) []Finding {
	var r Receipt
	err := decodeStrict(raw, &r, "format", "event_id", "partition", "leaf_index", "record", "inclusion_proof", "checkpoint")
	if err != nil || r.Format != "facegate-receipt/v1" {
		return []Finding{find(Malformed, "not a facegate-receipt/v1 document")}
	}
	record, err := unb64(r.Record, -1)
	if err != nil {
		return []Finding{find(Malformed, "receipt record: %v", err)}
	}
	proof := make([]tlog.Hash, len(r.InclusionProof))
	for i, h := range r.InclusionProof {
		if proof[i], err = hash32(h); err != nil {
			return []Finding{find(Malformed, "receipt proof: %v", err)}
		}
	}
	cp, out := ks.CheckCheckpoint([]byte(r.Checkpoint), r.Partition)
	if cp == nil {
		return out
	}
	if r.LeafIndex < 0 || r.LeafIndex >= cp.Size {
		return append(out, find(Malformed, "leaf %d is beyond size %d", r.LeafIndex, cp.Size))
	}
	if tlog.CheckRecord(proof, cp.Size, cp.Root, r.LeafIndex, tlog.RecordHash(record)) != nil {
		return append(out, find(Tampered, "the record and proof do not give the signed root"))
	}
	rec, _, err := DecodeRecord(record, schemas)
	if err != nil {
		return append(out, find(Malformed, "the record does not decode: %v", err))
	}
	if rec.Values["event_id"] != r.EventID || rec.Values["seq"] != r.LeafIndex {
		return append(out, find(Tampered, "the record is not this event's at this index"))
	}
	return out
}
