package mask

import (
	"strconv"
	"strings"
)

// typeKind is what masking by type and the verification gate need to know of a column's type.
type typeKind int

const (
	kindOther typeKind = iota
	kindText           // text, character varying, character, name, citext
	kindXML            // text to the detectors, nothing to mask by type
	kindInt            // smallint, integer, bigint
	kindNumeric
	kindFloat // real, double precision
	kindDate
	kindTimestamp // with or without time zone
	kindJSON      // json, jsonb
	kindUUID
	kindBytea
	kindBool
)

// colType is a column's type as format_type writes it, read for masking.
type colType struct {
	name   string // as written, without array brackets
	kind   typeKind
	bits   int // integers: 16, 32 or 64; floats: 32 or 64
	length int // character types: the declared length, 0 for none
	prec   int // numeric: precision, 0 for none
	scale  int // numeric: scale
	dims   int // array dimensions
}

// parseType reads a type as pg_dump and format_type write it ("character varying(20)[]",
// "timestamp(3) with time zone", "numeric(12,2)", "public.citext"). Anything it does not know
// is kindOther.
func parseType(s string) colType {
	t := colType{}
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, "[]") {
		t.dims++
		s = strings.TrimSpace(strings.TrimSuffix(s, "[]"))
	}
	t.name = s
	base, mod := s, ""
	if i := strings.IndexByte(s, '('); i >= 0 {
		if j := strings.IndexByte(s[i:], ')'); j >= 0 {
			base = strings.TrimSpace(s[:i] + s[i+j+1:])
			mod = s[i+1 : i+j]
		}
	}
	base = strings.Join(strings.Fields(base), " ")
	if i := strings.LastIndexByte(base, '.'); i >= 0 && !strings.Contains(base, " ") {
		base = strings.Trim(base[i+1:], `"`) // a qualified extension type: citext
	}
	switch base {
	case "text", "character varying", "varchar", "character", "bpchar", "char", "name", "citext":
		t.kind = kindText
		if n, err := strconv.Atoi(mod); err == nil {
			t.length = n
		} else if base == "character" || base == "char" {
			t.length = 1
		}
	case "xml":
		t.kind = kindXML
	case "smallint", "int2":
		t.kind, t.bits = kindInt, 16
	case "integer", "int", "int4":
		t.kind, t.bits = kindInt, 32
	case "bigint", "int8":
		t.kind, t.bits = kindInt, 64
	case "numeric", "decimal":
		t.kind = kindNumeric
		p, sc, _ := strings.Cut(mod, ",")
		t.prec, _ = strconv.Atoi(strings.TrimSpace(p))
		t.scale, _ = strconv.Atoi(strings.TrimSpace(sc))
	case "real", "float4":
		t.kind, t.bits = kindFloat, 32
	case "double precision", "float8":
		t.kind, t.bits = kindFloat, 64
	case "date":
		t.kind = kindDate
	case "timestamp without time zone", "timestamp with time zone", "timestamp", "timestamptz":
		t.kind = kindTimestamp
	case "json", "jsonb":
		t.kind = kindJSON
	case "uuid":
		t.kind = kindUUID
	case "bytea":
		t.kind = kindBytea
	case "boolean", "bool":
		t.kind = kindBool
	}
	return t
}

// textLike reports whether the detectors read the type's values: text, XML, JSON (its
// strings), and arrays of them.
func (t colType) textLike() bool {
	return t.kind == kindText || t.kind == kindXML || t.kind == kindJSON
}

// byTypeName says how mask-by-type masks the type, or "" when it has no default.
func (t colType) byTypeName() string {
	switch t.kind {
	case kindText:
		return "token"
	case kindInt, kindNumeric, kindFloat:
		return "noise"
	case kindDate, kindTimestamp:
		return "shift"
	case kindJSON:
		return "json values"
	case kindUUID:
		return "uuid"
	case kindBytea:
		return "bytes"
	}
	return ""
}

// castable reports whether the gate compares the type's values after casting the sampled
// originals to it (their text forms are not canonical: numbers, times, jsonb); other types
// are compared as text.
func (t colType) castable() bool {
	switch t.kind {
	case kindInt, kindNumeric, kindFloat, kindDate, kindTimestamp, kindUUID:
		return t.dims == 0
	}
	return false
}
