package main

// Verifying a whole exported log (docs/audit-format.md sections 9 and 11): every partition's
// records as leaves of its tree, its signed checkpoints in order, pruned prefixes from a
// published or kept frontier, the v0 chain, and the completeness notes; the regulator's anchor
// file (facegate-anchors/v1) is checked against today's log and, once verified, rewritten.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

type entry struct {
	Partition int64  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
	Format    string `json:"-"`
	raw       []byte
}

type signedCP struct {
	cp       *Checkpoint
	note     string
	frontier []tlog.Hash // nil unless it folds to the signed root
}

type target struct {
	size int64
	root tlog.Hash
	what string
}

type keptHead struct {
	Partition  int64    `json:"partition"`
	Checkpoint string   `json:"checkpoint"`
	Size       int64    `json:"size"`
	Hashes     []string `json:"hashes"`
	cp         *Checkpoint
	frontier   []tlog.Hash
}

type anchorFile struct {
	Format       string     `json:"format"`
	Log          string     `json:"log"`
	Partitions   []keptHead `json:"partitions"`
	Completeness *string    `json:"completeness"`
}

func treeHash(size int64, frontier []tlog.Hash) (tlog.Hash, error) {
	if size == 0 {
		return emptyRoot, nil
	}
	s, err := newStore(size, frontier)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.TreeHash(size, s)
}

func exportCommand(args []string) int {
	flags := flag.NewFlagSet("export", flag.ExitOnError)
	keysPath := flags.String("keys", "", "the key set (JSON)")
	schemasPath := flags.String("schemas", "", "the AuditRecord and AuditCheckpoint writer schemas (JSON)")
	anchorPath := flags.String("anchor", "", "the checkpoints kept from the last run (created, rewritten when verified)")
	maxAge := flags.Duration("max-age", 0, "a finding if the newest completeness note is older than this")
	nowText := flags.String("now", "", "the time of verification (default: now)")
	asJSON := flags.Bool("json", false, "print the findings as JSON")
	flags.Parse(args)
	if flags.NArg() != 1 || *keysPath == "" || *schemasPath == "" {
		usage()
	}
	raw, err := os.ReadFile(*keysPath)
	if err != nil {
		return fail(err)
	}
	ks, err := LoadKeySet(raw)
	if err != nil {
		return fail(err)
	}
	schemas, err := loadSchemas(*schemasPath)
	if err != nil {
		return fail(err)
	}
	now := time.Now().UTC()
	if *nowText != "" {
		if now, err = parseTime(*nowText); err != nil {
			return fail(err)
		}
	}
	entries, count, err := readExport(flags.Arg(0))
	if err != nil {
		return fail(err)
	}
	var kept *anchorFile
	var findings []Finding
	if *anchorPath != "" {
		if data, err := os.ReadFile(*anchorPath); err == nil {
			kept, findings = loadAnchors(data, ks)
		}
	}
	// A partition is a number 0..N-1 (N from the header, when there is one): another line is no
	// partition's record, and is a finding rather than read as some partition's.
	inRange := entries[:0]
	for _, e := range entries {
		if e.Partition < 0 || (count >= 0 && e.Partition >= count) {
			findings = append(findings, find(Malformed, "partition %d offset %d: not a partition of the topic", e.Partition, e.Offset))
			continue
		}
		inRange = append(inRange, e)
	}
	entries = inRange
	v := &logVerifier{ks: ks, schemas: schemas, kept: kept}
	findings = append(findings, v.verify(entries, now, *maxAge)...)
	errorsFound := false
	for _, f := range findings {
		if f.Code != Pruned {
			errorsFound = true
		}
	}
	if *anchorPath != "" && !errorsFound {
		out, _ := json.MarshalIndent(v.keep(), "", "  ")
		if err := os.WriteFile(*anchorPath, append(out, '\n'), 0o644); err != nil {
			return fail(err)
		}
	}
	if *asJSON {
		type jf struct{ Code, Detail string }
		out := []jf{}
		for _, f := range findings {
			out = append(out, jf{f.Code, f.Detail})
		}
		line, _ := json.Marshal(map[string]any{"findings": out, "partitions": v.summary})
		fmt.Println(string(line))
		if errorsFound {
			return 1
		}
		return 0
	}
	return report(findings, fmt.Sprintf("export verified: %d partitions", len(v.summary)))
}

// readExport reads an export's record lines, and the header's partition count (-1 without one).
func readExport(path string) ([]entry, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, -1, err
	}
	defer f.Close()
	var out []entry
	count := int64(-1)
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	for n := 1; scanner.Scan(); n++ {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		var e entry
		if m, err := members(line, "format", "topic", "exported_at", "partitions", "log_start_offsets", "end_offsets"); n == 1 && m["format"] != nil {
			if err != nil || json.Unmarshal(m["format"], &e.Format) != nil || e.Format != "facegate-audit-export/v1" ||
				(m["partitions"] != nil && (json.Unmarshal(m["partitions"], &count) != nil || count < 0)) {
				return nil, -1, fmt.Errorf("line %d: not a facegate-audit-export/v1 header", n)
			}
			continue
		}
		if err := decodeStrict(line, &e, "partition", "offset", "value"); err != nil {
			return nil, -1, fmt.Errorf("line %d: %v", n, err)
		}
		if e.raw, err = unb64(e.Value, -1); err != nil {
			return nil, -1, fmt.Errorf("line %d: %v", n, err)
		}
		out = append(out, e)
	}
	return out, count, scanner.Err()
}

func loadAnchors(data []byte, ks *KeySet) (*anchorFile, []Finding) {
	var a anchorFile
	var parts []json.RawMessage
	m, err := members(data, "format", "log", "partitions", "completeness")
	if err == nil {
		err = errors.Join(json.Unmarshal(m["format"], &a.Format), json.Unmarshal(m["log"], &a.Log),
			json.Unmarshal(m["partitions"], &parts))
	}
	if err == nil && m["completeness"] != nil {
		err = json.Unmarshal(m["completeness"], &a.Completeness)
	}
	for _, part := range parts {
		var h keptHead
		if err == nil {
			err = decodeStrict(part, &h, "partition", "checkpoint", "size", "hashes")
		}
		a.Partitions = append(a.Partitions, h)
	}
	if err != nil || parts == nil || a.Format != "facegate-anchors/v1" || a.Log != ks.Log {
		return nil, []Finding{find(Malformed, "the anchor file is not a facegate-anchors/v1 document of %s", ks.Log)}
	}
	var out []Finding
	var heads []keptHead
	for _, h := range a.Partitions {
		cp, f := ks.CheckCheckpoint([]byte(h.Checkpoint), h.Partition)
		out = append(out, f...)
		if cp == nil {
			continue
		}
		var frontier []tlog.Hash
		for _, s := range h.Hashes {
			x, err := hash32(s)
			if err != nil {
				return nil, []Finding{find(Malformed, "kept frontier: %v", err)}
			}
			frontier = append(frontier, x)
		}
		if root, err := treeHash(h.Size, frontier); err != nil || h.Size != cp.Size || root != cp.Root {
			out = append(out, find(Malformed, "kept frontier of partition %d is not its root's", h.Partition))
			continue
		}
		h.cp, h.frontier = cp, frontier
		heads = append(heads, h)
	}
	a.Partitions = heads
	return &a, out
}

type partSummary struct {
	Partition int64  `json:"partition"`
	Records   int    `json:"records"`
	Size      int64  `json:"size"`
	SignedAt  string `json:"signed_at"`
	Pruned    int64  `json:"pruned"`
}

type logVerifier struct {
	ks        *KeySet
	schemas   []*Schema
	kept      *anchorFile
	keptNote  *Completeness // the kept completeness note, once opened and judged
	newest    map[int64]signedCP
	frontiers map[int64][]tlog.Hash
	notes     []*Completeness
	noteTexts []string
	summary   []partSummary
}

func schemaName(s *Schema) string {
	if m, ok := s.JSON.(map[string]any); ok {
		name, _ := m["name"].(string)
		return name
	}
	return ""
}

func (v *logVerifier) verify(entries []entry, now time.Time, maxAge time.Duration) []Finding {
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Partition != entries[j].Partition {
			return entries[i].Partition < entries[j].Partition
		}
		return entries[i].Offset < entries[j].Offset
	})
	v.newest, v.frontiers = map[int64]signedCP{}, map[int64][]tlog.Hash{}
	var out []Finding
	if v.kept != nil && v.kept.Completeness != nil {
		kept, f := v.ks.CheckCompleteness([]byte(*v.kept.Completeness))
		out = append(out, f...)
		v.keptNote = kept
	}
	byPartition := map[int64][]entry{}
	var order []int64
	for _, e := range entries {
		if _, ok := byPartition[e.Partition]; !ok {
			order = append(order, e.Partition)
		}
		byPartition[e.Partition] = append(byPartition[e.Partition], e)
	}
	type partData struct {
		leaves  map[int64]tlog.Hash
		chained [][]byte
		signed  []signedCP
		head    int64
		records int
		// seq -> recorded_at of records no checkpoint read so far covers (section 11's "uncovered"),
		// dropped as checkpoints cover them to keep memory small
		pending map[int64]time.Time
		hashes  map[int64]string // seq -> v0 hash, where a record carries one
		v0heads []map[string]any // 0.1.0 checkpoints: a JSON signature over a chain head (section 2.2)
		modern  bool             // holds a record written after 0.1.0 (whose writer also signs notes)
	}
	data := map[int64]*partData{}
	for _, p := range order {
		d := &partData{leaves: map[int64]tlog.Hash{}, head: -1, pending: map[int64]time.Time{}, hashes: map[int64]string{}}
		data[p] = d
		for _, e := range byPartition[p] {
			rec, schema, err := DecodeRecord(e.raw, v.schemas)
			if err != nil {
				out = append(out, find(Malformed, "partition %d offset %d: %v", p, e.Offset, err))
				continue
			}
			if schemaName(schema) == "AuditCheckpoint" {
				text, _ := rec.Values["note"].(string)
				if text == "" { // a v0 checkpoint: judged below, once the chain and the notes are read
					d.v0heads = append(d.v0heads, rec.Values)
					continue
				}
				if strings.HasPrefix(text, v.ks.Log+"/completeness\n") {
					c, f := v.ks.CheckCompleteness([]byte(text))
					out = append(out, f...)
					if c != nil {
						v.notes, v.noteTexts = append(v.notes, c), append(v.noteTexts, text)
					}
					continue
				}
				cp, f := v.ks.CheckCheckpoint([]byte(text), p)
				out = append(out, f...)
				if cp == nil {
					continue
				}
				for seq := range d.pending {
					if seq < cp.Size {
						delete(d.pending, seq)
					}
				}
				s := signedCP{cp: cp, note: text}
				var frontier []tlog.Hash
				items, _ := rec.Values["frontier"].([]any)
				for _, item := range items {
					if b, ok := item.([]byte); ok && len(b) == 32 {
						frontier = append(frontier, tlog.Hash(b))
					}
				}
				if root, err := treeHash(cp.Size, frontier); err == nil && root == cp.Root && len(frontier) == len(items) {
					s.frontier = frontier
				}
				d.signed = append(d.signed, s)
				continue
			}
			d.records++
			seq, _ := rec.Values["seq"].(int64)
			if fmt.Sprintf("%x", schema.Fingerprint) != v0Fingerprint {
				d.modern = true
			}
			if hash, _ := rec.Values["hash"].(string); hash != "" {
				d.hashes[seq] = hash
			}
			if seq <= d.head {
				out = append(out, find(Tampered, "partition %d: seq %d after seq %d (reordered or repeated)", p, seq, d.head))
			} else {
				d.leaves[seq] = tlog.RecordHash(e.raw)
				d.head = seq
				at, _ := rec.Values["recorded_at"].(millis)
				d.pending[seq] = time.UnixMilli(int64(at)).UTC()
			}
			// Every record goes to the chain check, below an anchor too: a non-empty hash after an
			// empty one is a finding (section 2.2), which it cannot see if empty ones are left out.
			d.chained = append(d.chained, e.raw)
		}
	}
	var keptHeads map[int64]keptHead
	if v.kept != nil {
		keptHeads = map[int64]keptHead{}
		for _, h := range v.kept.Partitions {
			keptHeads[h.Partition] = h
		}
	}
	// A partition the anchor knows must still be in the log (section 9: the kept heads are signed
	// heads the log must give), and so must one the kept completeness note holds leaves of.
	for _, h := range v.kept.partitionsOrNil() {
		if _, ok := data[h.Partition]; !ok && h.cp.Size > 0 {
			out = append(out, find(PartMissing, "partition %d: the kept checkpoint of size %d is not in the log (the partition is gone)", h.Partition, h.cp.Size))
		}
	}
	if v.keptNote != nil {
		for p, head := range v.keptNote.Heads {
			if _, ok := data[int64(p)]; !ok && head.Size > 0 && keptHeads[int64(p)].cp == nil {
				out = append(out, find(PartMissing, "partition %d: the kept completeness note gives it %d leaves but it is gone", p, head.Size))
			}
		}
	}
	// 0.1.0 checkpoints cover records only in a log with no v1 signature at all (today's or kept):
	// otherwise one is a downgraded checkpoint whose note was blanked, and covers nothing.
	v0Covers := len(v.notes) == 0 && (v.kept == nil || (len(v.kept.Partitions) == 0 && v.kept.Completeness == nil))
	for _, d := range data {
		v0Covers = v0Covers && len(d.signed) == 0
	}
	staleRecords := false
	for _, p := range order {
		d := data[p]
		for _, f := range CheckChainV0(d.chained, v.schemas) {
			if f.Code != Pruned {
				out = append(out, find(f.Code, "partition %d: %s", p, f.Detail))
			}
		}
		v0Covered, v0Found := v.checkV0Heads(p, d.v0heads, d.hashes)
		out = append(out, v0Found...)
		for _, s := range d.signed {
			if s.cp.Time.After(now.Add(clockSkew)) {
				out = append(out, find(Inconsistent, "partition %d: checkpoint of size %d is dated %s, after the time of verification", p, s.cp.Size, s.cp.Time.Format(timeLayout)))
			}
		}
		if maxAge > 0 { // records no signature covers are a finding once older than the maximum age
			covered := int64(0)
			if v0Covers {
				covered = v0Covered + 1
			}
			for _, s := range d.signed {
				covered = max(covered, s.cp.Size)
			}
			count, oldest := 0, int64(-1)
			for seq, at := range d.pending {
				if seq >= covered && now.Sub(at) > maxAge {
					count++
					if oldest < 0 || seq < oldest {
						oldest = seq
					}
				}
			}
			if count > 0 {
				out = append(out, find(Stale, "partition %d: %d records no signature covers are older than the maximum age, the first seq %d recorded at %s", p, count, oldest, d.pending[oldest].Format(timeLayout)))
				staleRecords = true
			}
		}
		for i := 1; i < len(d.signed); i++ {
			before, after := d.signed[i-1].cp, d.signed[i].cp
			if !after.Time.After(before.Time) || after.Size < before.Size {
				out = append(out, find(Inconsistent, "partition %d: checkpoint of size %d follows one of size %d (replayed or rewound)", p, after.Size, before.Size))
			}
		}
		var targets []target
		var newest *signedCP
		for i := range d.signed {
			s := d.signed[i]
			targets = append(targets, target{s.cp.Size, s.cp.Root, "checkpoint"})
			if newest == nil || s.cp.Size > newest.cp.Size || (s.cp.Size == newest.cp.Size && s.cp.Time.After(newest.cp.Time)) {
				newest = &d.signed[i]
			}
		}
		for _, c := range v.notes {
			if p >= 0 && p < int64(len(c.Heads)) {
				targets = append(targets, target{c.Heads[p].Size, c.Heads[p].Root, "completeness note"})
			}
		}
		// The kept completeness note's line is one more signed head (section 9), whatever today's
		// notes say: the same size with another root is a fork, and the leaves must give it.
		if c := v.keptNote; c != nil && p >= 0 && p < int64(len(c.Heads)) {
			targets = append(targets, target{c.Heads[p].Size, c.Heads[p].Root, "kept completeness note"})
		}
		kh, hasKept := keptHeads[p]
		if hasKept {
			targets = append(targets, target{kh.cp.Size, kh.cp.Root, "kept checkpoint"})
			if newest != nil && kh.cp.Size > newest.cp.Size {
				out = append(out, find(Inconsistent, "partition %d: the log went back from the kept size %d to %d (rewound)", p, kh.cp.Size, newest.cp.Size))
			} else if newest == nil && kh.cp.Size > 0 {
				out = append(out, find(Inconsistent, "partition %d: the log shows no signed checkpoint where the kept one has size %d (rewound or downgraded)", p, kh.cp.Size))
			}
		}
		// Two signed heads of one size must have one root, whether or not the leaves below them are
		// still here to check (a completeness line against a checkpoint, the log against the kept head).
		bySize := map[int64]target{}
		for _, t := range targets {
			if seen, ok := bySize[t.size]; !ok {
				bySize[t.size] = t
			} else if seen.root != t.root {
				out = append(out, find(Inconsistent, "partition %d: a %s and a %s give size %d two roots (a fork)", p, t.what, seen.what, t.size))
			}
		}
		// Where the tree check starts: leaf 0, or the smallest frontier at or above the first leaf;
		// with a kept head, never above it: a published frontier further on cannot be linked to it,
		// and a history replaced below a published checkpoint would look just like retention.
		var start int64
		var frontier []tlog.Hash
		first := int64(-1)
		for seq := range d.leaves {
			if first < 0 || seq < first {
				first = seq
			}
		}
		if first != 0 {
			type cand struct {
				size     int64
				frontier []tlog.Hash
			}
			var cands []cand
			for _, s := range d.signed {
				if s.frontier != nil && (!hasKept || s.cp.Size <= kh.cp.Size) {
					cands = append(cands, cand{s.cp.Size, s.frontier})
				}
			}
			if hasKept {
				if first > kh.cp.Size {
					out = append(out, find(Missing, "partition %d: leaves %d..%d are absent: the log no longer reaches back to the kept checkpoint of size %d", p, kh.cp.Size, first-1, kh.cp.Size))
					continue
				}
				cands = append(cands, cand{kh.cp.Size, kh.frontier})
			}
			chosen := -1
			for i, c := range cands {
				usable := first < 0 || c.size >= first
				better := chosen < 0 || (first >= 0 && c.size < cands[chosen].size) || (first < 0 && c.size > cands[chosen].size)
				if usable && better {
					chosen = i
				}
			}
			if chosen < 0 && first > 0 {
				out = append(out, find(Missing, "partition %d: leaves 0..%d are absent and no frontier covers them", p, first-1))
				continue
			}
			if chosen >= 0 {
				start, frontier = cands[chosen].size, cands[chosen].frontier
			}
		}
		s, err := newStore(start, frontier)
		if err != nil {
			out = append(out, find(Malformed, "partition %d: %v", p, err))
			continue
		}
		if start > 0 {
			out = append(out, find(Pruned, "partition %d: leaves 0..%d pruned before the checkpoint of size %d", p, start-1, start))
		}
		sort.Slice(targets, func(i, j int) bool { return targets[i].size < targets[j].size })
		failed := false
		for _, t := range targets {
			if t.size < start {
				continue
			}
			for s.n < t.size {
				leaf, ok := d.leaves[s.n]
				if !ok {
					break
				}
				s.append(leaf)
			}
			if s.n < t.size {
				out = append(out, find(Missing, "partition %d: leaf %d is absent below the size %d of a %s", p, s.n, t.size, t.what))
				failed = true
				break
			}
			root, err := tlog.TreeHash(t.size, s)
			if err != nil || root != t.root {
				out = append(out, find(Tampered, "partition %d: leaves up to %d do not give the root of a %s", p, t.size-1, t.what))
				failed = true
				break
			}
		}
		if !failed {
			for seq := s.n; seq <= d.head; seq++ {
				if _, ok := d.leaves[seq]; !ok {
					out = append(out, find(Missing, "partition %d: leaf %d is absent after the newest checkpoint", p, seq))
					break
				}
			}
		}
		sum := partSummary{Partition: p, Records: d.records, Pruned: start}
		if newest != nil && !failed && newest.cp.Size >= start {
			sum.Size, sum.SignedAt = newest.cp.Size, newest.cp.Time.Format(timeLayout)
			v.newest[p] = *newest
			if f, err := frontierOf(s, newest.cp.Size); err == nil {
				v.frontiers[p] = f
			}
		}
		v.summary = append(v.summary, sum)
	}
	sizes := map[int64]presence{}
	for _, p := range order {
		d := data[p]
		sizes[p] = presence{len(d.leaves) > 0, len(d.signed) > 0, len(d.v0heads) > 0 && d.modern}
	}
	out = append(out, v.completeness(sizes, now, maxAge, staleRecords)...)
	return out
}

// presence: a partition has records, signed checkpoints, and 0.1.0 checkpoints next to records
// written after 0.1.0 (which need a completeness note like signed checkpoints do, section 6).
type presence struct{ records, signed, v0modern bool }

// v0Fingerprint is the AuditRecord schema 0.1.0 wrote with: its writer never signed notes, so a
// log of those records alone needs none (section 6). A forger without the key cannot rewrite
// later records as 0.1.0 ones without breaking the v0 chain.
const v0Fingerprint = "f728740434fd97e4"

// checkV0Heads judges a partition's 0.1.0 checkpoints (section 2.2): a signature by a key of the
// set (its v0 id: the first 16 hex digits of SHA-256 of the raw public key) over the JSON of the
// chain head, within the key's lifetime (section 7), on a head of the chain. It returns the
// highest seq a good one covers (-1 for none) and the findings.
func (v *logVerifier) checkV0Heads(p int64, heads []map[string]any, hashes map[int64]string) (int64, []Finding) {
	var out []Finding
	covered := int64(-1)
	lowest := int64(0)
	first := true
	for seq := range hashes {
		if first || seq < lowest {
			lowest, first = seq, false
		}
	}
	byV0ID := map[string]*Key{} // a key's v0 id: the first 16 hex digits of SHA-256 of its raw public key
	for i, k := range v.ks.Keys {
		sum := sha256.Sum256(k.Public)
		byV0ID[hex.EncodeToString(sum[:])[:16]] = &v.ks.Keys[i]
	}
	for _, h := range heads {
		part, _ := h["audit_partition"].(int64)
		seq, _ := h["seq"].(int64)
		headHash, _ := h["head_hash"].(string)
		at, _ := h["signed_at"].(millis)
		keyID, _ := h["key_id"].(string)
		sig, _ := h["signature"].([]byte)
		signedAt := time.UnixMilli(int64(at)).UTC()
		if part != p {
			out = append(out, find(Malformed, "partition %d: a v0 checkpoint of partition %d", p, part))
			continue
		}
		key := byV0ID[keyID]
		msg := `{"head_hash":` + pyString(headHash) + `,"key_id":` + pyString(keyID) +
			fmt.Sprintf(`,"partition":%d,"seq":%d,"signed_at":%d}`, part, seq, int64(at))
		if key == nil || len(key.Public) != ed25519.PublicKeySize || !ed25519.Verify(ed25519.PublicKey(key.Public), []byte(msg), sig) {
			out = append(out, find(UnknownKey, "partition %d: v0 checkpoint of seq %d: no valid signature", p, seq))
			continue
		}
		if f := key.at(signedAt); len(f) > 0 {
			for _, x := range f {
				out = append(out, find(x.Code, "partition %d: v0 checkpoint of seq %d: %s", p, seq, x.Detail))
			}
			continue
		}
		want, ok := hashes[seq]
		if seq == -1 {
			want, ok = strings.Repeat("0", 64), true
		}
		if !ok || want != headHash {
			if seq >= lowest {
				out = append(out, find(Tampered, "partition %d: v0 checkpoint of seq %d: not the chain", p, seq))
			}
			continue
		}
		covered = max(covered, seq)
	}
	return covered, out
}

// frontierOf reads the frontier of size n back from a store that holds it.
func frontierOf(s *store, n int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	lo := int64(0)
	for level := 62; level >= 0; level-- {
		if n&(1<<level) == 0 {
			continue
		}
		h, err := s.ReadHashes([]int64{tlog.StoredHashIndex(level, lo>>level)})
		if err != nil {
			return nil, err
		}
		out = append(out, h[0])
		lo += 1 << level
	}
	return out, nil
}

func (v *logVerifier) completeness(data map[int64]presence, now time.Time, maxAge time.Duration, staleRecords bool) []Finding {
	var out []Finding
	series := v.notes
	if kept := v.keptNote; kept != nil {
		if len(v.notes) == 0 {
			out = append(out, find(PartMissing, "no completeness note, where the kept one is of %s: the notes are gone", kept.Time.Format(timeLayout)))
		}
		series = []*Completeness{kept}
		for _, c := range v.notes {
			if c.Time.After(kept.Time) {
				series = append(series, c)
			}
		}
		if len(v.notes) > 0 && kept.Time.After(v.notes[len(v.notes)-1].Time) {
			out = append(out, find(Inconsistent, "the newest completeness note is older than the kept one (rewound)"))
		}
	}
	if maxAge <= 0 {
		maxAge = time.Duration(1<<62 - 1)
	}
	out = append(out, CheckSeries(series, now, maxAge)...)
	anySigned := false
	for _, d := range data {
		anySigned = anySigned || d.signed || d.v0modern
	}
	if len(v.notes) == 0 && (anySigned || staleRecords) { // or records old enough that notes should cover them
		out = append(out, find(PartMissing, "no completeness note: partition 0 or its notes are gone"))
	}
	if len(series) == 0 {
		return out
	}
	newest := series[len(series)-1]
	for p, head := range newest.Heads {
		d, ok := data[int64(p)]
		if head.Size > 0 && (!ok || (!d.records && !d.signed)) {
			out = append(out, find(PartMissing, "partition %d holds %d leaves but is gone", p, head.Size))
		}
	}
	for p, d := range data {
		if p >= int64(len(newest.Heads)) && d.records {
			out = append(out, find(PartMissing, "partition %d has records but no line", p))
		}
	}
	return out
}

func (v *logVerifier) keep() anchorFile {
	// The kept state is merged, never replaced (section 9): a partition, its head and the
	// completeness note kept before stay unless today's log gives a newer one that verified.
	a := anchorFile{Format: "facegate-anchors/v1", Log: v.ks.Log, Partitions: []keptHead{}}
	heads := map[int64]keptHead{}
	for _, h := range v.kept.partitionsOrNil() {
		heads[h.Partition] = h
	}
	for p, n := range v.newest {
		f, ok := v.frontiers[p]
		if old, kept := heads[p]; !ok || (kept && (n.cp.Size < old.cp.Size || (n.cp.Size == old.cp.Size && !n.cp.Time.After(old.cp.Time)))) {
			continue
		}
		h := keptHead{Partition: p, Checkpoint: n.note, Size: n.cp.Size, Hashes: []string{}, cp: n.cp}
		for _, x := range f {
			h.Hashes = append(h.Hashes, base64.StdEncoding.EncodeToString(x[:]))
		}
		heads[p] = h
	}
	var parts []int64
	for p := range heads {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		if heads[p].Hashes == nil {
			h := heads[p]
			h.Hashes = []string{}
			heads[p] = h
		}
		a.Partitions = append(a.Partitions, heads[p])
	}
	if v.kept != nil {
		a.Completeness = v.kept.Completeness
	}
	if n := len(v.notes); n > 0 && (v.keptNote == nil || v.notes[n-1].Time.After(v.keptNote.Time)) {
		a.Completeness = &v.noteTexts[n-1]
	}
	return a
}

// partitionsOrNil is the kept heads that opened and folded to their roots, none without a file.
func (a *anchorFile) partitionsOrNil() []keptHead {
	if a == nil {
		return nil
	}
	return a.Partitions
}
