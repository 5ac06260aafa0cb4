// Command verifier checks FaceGate audit logs as docs/audit-format.md specifies them, without
// any of FaceGate's Python: the test vectors, a receipt, or a key set.
//
//	verifier vectors [-json] DIR
//	verifier receipt -keys KEYSET.json -schemas SCHEMAS.json RECEIPT.json
//	verifier keyset KEYSET.json
//	verifier export -keys KEYSET.json -schemas SCHEMAS.json [-anchor ANCHORS.json] [-max-age 3m] [-now TIME] [-json] EXPORT.jsonl
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var code int
	switch os.Args[1] {
	case "vectors":
		code = vectorsCommand(os.Args[2:])
	case "receipt":
		code = receiptCommand(os.Args[2:])
	case "keyset":
		code = keysetCommand(os.Args[2:])
	case "export":
		code = exportCommand(os.Args[2:])
	default:
		usage()
	}
	os.Exit(code)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: verifier vectors [-json] DIR | receipt -keys KEYSET -schemas SCHEMAS RECEIPT | keyset KEYSET | export -keys KEYSET -schemas SCHEMAS [-anchor FILE] [-max-age D] [-now T] [-json] EXPORT")
	os.Exit(2)
}

// loadSchemas reads writer schemas as leaves.json lists them (or a file holding only that list).
func loadSchemas(path string) ([]*Schema, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Schemas []struct {
			Version, Fingerprint string
			Schema               any
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Schemas) == 0 {
		if err := json.Unmarshal(raw, &doc.Schemas); err != nil {
			return nil, fmt.Errorf("%s: no schemas", path)
		}
	}
	var out []*Schema
	for _, s := range doc.Schemas {
		schema, err := NewSchema(s.Version, s.Schema, s.Fingerprint)
		if err != nil {
			return nil, err
		}
		out = append(out, schema)
	}
	return out, nil
}

func receiptCommand(args []string) int {
	flags := flag.NewFlagSet("receipt", flag.ExitOnError)
	keysPath := flags.String("keys", "", "the key set (JSON)")
	schemasPath := flags.String("schemas", "", "the AuditRecord writer schemas (leaves.json or a list)")
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
		fmt.Printf("%s: %s\n", Malformed, err)
		return 1
	}
	schemas, err := loadSchemas(*schemasPath)
	if err != nil {
		return fail(err)
	}
	receipt, err := os.ReadFile(flags.Arg(0))
	if err != nil {
		return fail(err)
	}
	return report(ks.CheckReceipt(receipt, schemas), "receipt verifies")
}

func keysetCommand(args []string) int {
	if len(args) != 1 {
		usage()
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return fail(err)
	}
	ks, err := LoadKeySet(raw)
	if err != nil {
		fmt.Printf("%s: %s\n", Malformed, err)
		return 1
	}
	for _, k := range ks.Keys {
		until, revoked := "-", "-"
		if k.ValidUntil != nil {
			until = k.ValidUntil.Format(timeLayout)
		}
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.Format(timeLayout)
		}
		fmt.Printf("%s from %s until %s revoked %s\n", k.VKey, k.ValidFrom.Format(timeLayout), until, revoked)
	}
	fmt.Printf("key set of %s: %d keys\n", ks.Log, len(ks.Keys))
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 2
}

func report(findings []Finding, success string) int {
	errorsFound := false
	for _, f := range findings {
		fmt.Printf("%s: %s\n", f.Code, f.Detail)
		errorsFound = errorsFound || f.Code != Pruned
	}
	if errorsFound {
		return 1
	}
	fmt.Println(success)
	return 0
}

// -- the vectors ------------------------------------------------------------------------------

type vectorCase map[string]json.RawMessage

func (c vectorCase) str(name string) string {
	var s string
	json.Unmarshal(c[name], &s)
	return s
}

func (c vectorCase) num(name string) int64 {
	var n int64
	json.Unmarshal(c[name], &n)
	return n
}

func (c vectorCase) strs(name string) []string {
	var s []string
	json.Unmarshal(c[name], &s)
	return s
}

type vectors struct {
	keys    *KeySet
	schemas []*Schema
}

var files = []string{"keys.json", "tree.json", "leaves.json", "legacy.json", "proofs.json", "checkpoints.json",
	"partition.json", "completeness.json", "keysets.json", "receipts.json"}

func vectorsCommand(args []string) int {
	flags := flag.NewFlagSet("vectors", flag.ExitOnError)
	asJSON := flags.Bool("json", false, "one JSON object per case")
	flags.Parse(args)
	if flags.NArg() != 1 {
		usage()
	}
	dir := flags.Arg(0)
	var v vectors
	var keysDoc struct{ Keyset json.RawMessage }
	raw, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err == nil {
		err = json.Unmarshal(raw, &keysDoc)
	}
	if err == nil {
		v.keys, err = LoadKeySet(keysDoc.Keyset)
	}
	if err == nil {
		v.schemas, err = loadSchemas(filepath.Join(dir, "leaves.json"))
	}
	if err != nil {
		return fail(err)
	}
	failed := 0
	for _, file := range files {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return fail(err)
		}
		var doc struct{ Cases []vectorCase }
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fail(fmt.Errorf("%s: %v", file, err))
		}
		for _, c := range doc.Cases {
			got := v.check(c)
			want := c.strs("expect")
			ok := slices.Equal(got, want)
			if !ok {
				failed++
			}
			if *asJSON {
				line, _ := json.Marshal(map[string]any{"file": file, "case": c.str("name"), "findings": got, "ok": ok})
				fmt.Println(string(line))
			} else {
				fmt.Printf("%-4s %s %s %v (want %v)\n", map[bool]string{true: "ok", false: "FAIL"}[ok], file, c.str("name"), got, want)
			}
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d cases do not verify as expected\n", failed)
		return 1
	}
	return 0
}

// check returns the distinct finding codes for a case, sorted ("mismatch": a known answer differs).
func (v vectors) check(c vectorCase) []string {
	var findings []Finding
	switch kind := c.str("kind"); kind {
	case "signer":
		findings = checkSigner(c)
	case "tree":
		findings = checkTree(c)
	case "leaf-v1":
		record, _ := base64.StdEncoding.DecodeString(c.str("record"))
		findings = mismatchUnless(tlog.RecordHash(record).String() == b64hex(c.str("leaf_hash")))
	case "leaf-v0":
		findings = v.checkLeafV0(c)
	case "chain-v0":
		findings = CheckChainV0(decodeAll(c.strs("records")), v.schemas)
	case "inclusion":
		ok := tlog.CheckRecord(hexHashes(c.strs("proof")), c.num("size"), hexHash(c.str("root")), c.num("index"),
			hexHash(c.str("leaf_hash"))) == nil
		findings = unless(ok, Tampered)
	case "consistency":
		ok := Consistent(c.num("first_size"), c.num("second_size"), hexHash(c.str("first")), hexHash(c.str("second")),
			hexHashes(c.strs("proof")))
		findings = unless(ok, Inconsistent)
	case "checkpoint":
		findings = v.checkCheckpoint(c)
	case "checkpoint-pair":
		findings = v.checkPair(c)
	case "partition":
		findings = v.checkPartition(c)
	case "completeness":
		findings = v.checkCompleteness(c)
	case "keyset":
		_, err := LoadKeySet(c["keyset"])
		findings = unless(err == nil, Malformed)
	case "receipt":
		findings = v.keys.CheckReceipt(c["receipt"], v.schemas)
	default:
		findings = []Finding{find("unknown-kind", "%s", kind)}
	}
	set := map[string]bool{}
	for _, f := range findings {
		set[f.Code] = true
	}
	out := []string{}
	for code := range set {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

func unless(ok bool, code string) []Finding {
	if ok {
		return nil
	}
	return []Finding{{code, ""}}
}

func mismatchUnless(ok bool) []Finding { return unless(ok, "mismatch") }

func b64hex(h string) string {
	b, _ := hex.DecodeString(h)
	return base64.StdEncoding.EncodeToString(b)
}

func hexHash(h string) tlog.Hash {
	var out tlog.Hash
	b, _ := hex.DecodeString(h)
	copy(out[:], b)
	return out
}

func hexHashes(hs []string) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		out[i] = hexHash(h)
	}
	return out
}

func decodeAll(values []string) [][]byte {
	out := make([][]byte, len(values))
	for i, s := range values {
		out[i], _ = base64.StdEncoding.DecodeString(s)
	}
	return out
}

func checkSigner(c vectorCase) []Finding {
	signer, err := note.NewSigner(c.str("skey"))
	if err != nil {
		return []Finding{find("mismatch", "%v", err)}
	}
	msg, err := note.Sign(&note.Note{Text: c.str("text")}, signer)
	return mismatchUnless(err == nil && string(msg) == c.str("note"))
}

func checkTree(c vectorCase) []Finding {
	s := &store{hashes: map[int64]tlog.Hash{}}
	roots := c.strs("roots")
	for n, leaf := range append(c.strs("leaves"), "") {
		root, err := tlog.TreeHash(int64(n), s)
		if err != nil || n >= len(roots) || hex.EncodeToString(root[:]) != roots[n] {
			return mismatchUnless(false)
		}
		if n < len(roots)-1 {
			data, _ := hex.DecodeString(leaf)
			if err := s.append(tlog.RecordHash(data)); err != nil {
				return mismatchUnless(false)
			}
		}
	}
	return nil
}

func (v vectors) checkLeafV0(c vectorCase) []Finding {
	record, _ := base64.StdEncoding.DecodeString(c.str("record"))
	rec, _, err := DecodeRecord(record, v.schemas)
	if err != nil {
		return []Finding{find(Malformed, "%v", err)}
	}
	v0, err := V0(rec)
	sum := sha256.Sum256(v0)
	if err != nil || string(v0) != c.str("v0") || hex.EncodeToString(sum[:]) != c.str("hash") {
		return []Finding{find("mismatch", "v0 %s", v0)}
	}
	return unless(rec.Values["hash"] == c.str("hash"), Tampered)
}

func (v vectors) checkCheckpoint(c vectorCase) []Finding {
	cp, findings := v.keys.CheckCheckpoint([]byte(c.str("note")), c.num("partition"))
	if cp != nil && c["size"] != nil {
		if cp.Size != c.num("size") || cp.Root.String() != c.str("root") {
			return []Finding{find("mismatch", "size or root")}
		}
	}
	return findings
}

func (v vectors) checkPair(c vectorCase) []Finding {
	older, f1 := v.keys.CheckCheckpoint([]byte(c.str("older")), c.num("partition"))
	newer, f2 := v.keys.CheckCheckpoint([]byte(c.str("newer")), c.num("partition"))
	findings := append(f1, f2...)
	if older == nil || newer == nil {
		return findings
	}
	var proof []tlog.Hash
	for _, h := range c.strs("proof") {
		x, err := hash32(h)
		if err != nil {
			return append(findings, find(Malformed, "proof: %v", err))
		}
		proof = append(proof, x)
	}
	return append(findings, CheckConsistency(Head{older.Size, older.Root}, Head{newer.Size, newer.Root}, proof)...)
}

// leaves maps each record's seq (its leaf index) to its leaf hash.
func (v vectors) leaves(values []string) (map[int64]tlog.Hash, []Finding) {
	out := map[int64]tlog.Hash{}
	for i, raw := range decodeAll(values) {
		rec, _, err := DecodeRecord(raw, v.schemas)
		if err != nil {
			return nil, []Finding{find(Malformed, "record %d: %v", i, err)}
		}
		out[rec.Values["seq"].(int64)] = tlog.RecordHash(raw)
	}
	return out, nil
}

func (v vectors) checkPartition(c vectorCase) []Finding {
	cp, findings := v.keys.CheckCheckpoint([]byte(c.str("checkpoint")), c.num("partition"))
	if cp == nil {
		return findings
	}
	leaves, bad := v.leaves(c.strs("records"))
	if bad != nil {
		return append(findings, bad...)
	}
	var anchor *Anchor
	if string(c["anchor"]) != "null" {
		anchor = &Anchor{}
		if err := json.Unmarshal(c["anchor"], anchor); err != nil {
			return append(findings, find(Malformed, "anchor: %v", err))
		}
	}
	return append(findings, CheckLeaves(leaves, cp.Size, cp.Root, anchor)...)
}

func (v vectors) checkCompleteness(c vectorCase) []Finding {
	var findings []Finding
	var notes []*Completeness
	for _, text := range c.strs("notes") {
		parsed, f := v.keys.CheckCompleteness([]byte(text))
		findings = append(findings, f...)
		if parsed != nil {
			notes = append(notes, parsed)
		}
	}
	now, err := parseTime(c.str("now"))
	if err != nil {
		return append(findings, find(Malformed, "now: %v", err))
	}
	findings = append(findings, CheckSeries(notes, now, time.Duration(c.num("max_age_seconds"))*time.Second)...)
	if len(notes) == 0 {
		return findings
	}
	var parts map[string][]string
	json.Unmarshal(c["partitions"], &parts)
	data := map[int64]map[int64]tlog.Hash{}
	for p, values := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		leaves, bad := v.leaves(values)
		if err != nil || bad != nil {
			return append(findings, find(Malformed, "partition %s", p))
		}
		data[n] = leaves
	}
	return append(findings, CheckPartitions(notes[len(notes)-1], data)...)
}
