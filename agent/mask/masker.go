package mask

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/dchest/siphash"
)

// MinKeyLen is the shortest masking key ForTable accepts when a rule needs one.
const MinKeyLen = 16

// Sentinel errors of the masker. None of their messages ever carries a data value.
var (
	// ErrNoKey is returned by ForTable when a rule needs the masking key and Options.Key is
	// missing or shorter than MinKeyLen.
	ErrNoKey = errors.New("masking key missing or too short")
	// ErrFieldCount is returned by MaskLine when a row does not have one field per column.
	ErrFieldCount = errors.New("copy row field count differs from the column list")
	// ErrNoFake is returned when no fake different from the input could be derived; it
	// cannot happen for inputs that have anything to fake and is kept as a safety net.
	ErrNoFake = errors.New("no fake value differs from the input")
)

// maxRerolls bounds the attempts at a fake that differs from its input.
const maxRerolls = 64

// Options carries what masking needs beyond the rules.
type Options struct {
	// Key is the masking key: token's HMAC-SHA256 key, and the key the fakes' and partial
	// tags' SipHash key is derived from. It comes from configuration or a secret store, never
	// from the dump. Required (at least MinKeyLen bytes) when any rule of the table needs it.
	Key []byte
}

// column is one ruled column of a table.
type column struct {
	name  string
	index int // position in the COPY column list
	rule  *rule
	typ   colType // from the backup's schema; kindOther when unknown
}

// TableMasker masks the rows of one table. It keeps scratch buffers between calls, so a
// TableMasker must be used by one goroutine at a time; give each parallel worker its own
// Clone. Byte slices it returns alias those buffers and stay valid until its next call.
type TableMasker struct {
	table  string
	ncols  int
	cols   []column // ruled columns in COPY order
	byName map[string]int
	key    []byte
	k0, k1 uint64 // SipHash key of the fakes and tags, derived from key

	mac  hash.Hash    // token's HMAC-SHA256
	in   []byte       // PRF input scratch
	sum  []byte       // last PRF output
	dec  []byte       // decoded field scratch
	out  []byte       // masked value scratch
	digs []byte       // digit scratch of the digit-layout fakes
	jout []byte       // masked JSON document scratch
	jin  []byte       // unquoted JSON string scratch
	aout []byte       // masked array scratch
	scan []scanColumn // the columns the gate's detectors read (see Plan.ForTable)

	// digit stream state (startDigits / digit)
	dTag   string
	dCount byte
	dBlock byte
	dV     []byte
	dWord  int
	dLeft  int
	dCur   uint64
}

// ForTable returns the masker of one table given its COPY column list in COPY order, from
// the table's own rules only (no parents, no types: Plan.ForTable knows both). The table may
// be unqualified (public). ok is false, with a nil masker, when the profile has no rule for
// the table: copy it unchanged. A ruled column missing from columns returns
// ErrUnknownColumn; a rule needing the key without one returns ErrNoKey.
func (p *Profile) ForTable(table string, columns []string, opt Options) (m *TableMasker, ok bool, err error) {
	t, valid := qualify(table)
	if !valid {
		return nil, false, fmt.Errorf("mask table %q: want schema.table", table)
	}
	rules := p.tables[t]
	if len(rules) == 0 {
		return nil, false, nil
	}
	var cols []column
	for _, name := range p.Columns(t) {
		cols = append(cols, column{name: name, rule: rules[name]})
	}
	m, err = newTableMasker(t, columns, cols, nil, opt)
	return m, err == nil, err
}

// newTableMasker builds the masker of table for its COPY column list: cols are the masked
// columns, scan the columns the gate's detectors read (the index of each is set here).
func newTableMasker(table string, columns []string, cols []column, scan []scanColumn, opt Options) (*TableMasker, error) {
	index := make(map[string]int, len(columns))
	for i, c := range columns {
		if _, dup := index[c]; dup {
			return nil, fmt.Errorf("mask table %s: column %s listed twice", table, c)
		}
		index[c] = i
	}
	m := &TableMasker{table: table, ncols: len(columns), byName: map[string]int{}}
	needKey := false
	for _, c := range cols {
		i, found := index[c.name]
		if !found {
			return nil, fmt.Errorf("mask table %s: %w: %s (line %d)", table, ErrUnknownColumn, c.name, c.rule.line)
		}
		c.index = i
		m.cols = append(m.cols, c)
		needKey = needKey || c.rule.needsKey()
	}
	slices.SortFunc(m.cols, func(a, b column) int { return a.index - b.index })
	for i, c := range m.cols {
		m.byName[c.name] = i
	}
	for _, sc := range scan {
		sc.index = index[sc.name]
		m.scan = append(m.scan, sc)
	}
	if needKey && len(opt.Key) < MinKeyLen {
		return nil, fmt.Errorf("mask table %s: %w (need at least %d bytes)", table, ErrNoKey, MinKeyLen)
	}
	m.key = bytes.Clone(opt.Key)
	m.k0, m.k1 = fakeKey(m.key)
	m.init()
	return m, nil
}

// fakeKey derives the 128-bit SipHash key of the fakes and tags from the masking key, so one
// configured secret keys both PRFs and neither output reveals the other's key.
func fakeKey(key []byte) (k0, k1 uint64) {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("clonebot mask: siphash-2-4-128 key for fakes and tags"))
	sum := mac.Sum(nil)
	return binary.LittleEndian.Uint64(sum), binary.LittleEndian.Uint64(sum[8:])
}

func (m *TableMasker) init() {
	m.mac = hmac.New(sha256.New, m.key)
	m.in = make([]byte, 0, 64)
	m.sum = make([]byte, 0, sha256.Size)
	m.dec = make([]byte, 0, 256)
	m.out = make([]byte, 0, 256)
	m.digs = make([]byte, 0, 32)
	m.jout, m.jin, m.aout = nil, nil, nil
}

// Clone returns a masker with the same rules and key and its own scratch buffers, for
// another goroutine.
func (m *TableMasker) Clone() *TableMasker {
	c := &TableMasker{table: m.table, ncols: m.ncols, cols: m.cols, byName: m.byName, key: m.key, k0: m.k0, k1: m.k1, scan: m.scan}
	c.init()
	return c
}

// Table returns the qualified table name.
func (m *TableMasker) Table() string { return m.table }

// MaskedColumns returns the ruled columns in COPY order.
func (m *TableMasker) MaskedColumns() []string {
	names := make([]string, len(m.cols))
	for i, c := range m.cols {
		names[i] = c.name
	}
	return names
}

// MaskLine masks one COPY text row (no trailing newline) and appends the result to dst.
// Only the ruled fields are decoded and rewritten; the others are copied as raw bytes. A row
// whose field count differs from the column list returns ErrFieldCount and dst unchanged.
func (m *TableMasker) MaskLine(dst, line []byte) ([]byte, error) {
	start := len(dst)
	pos, copied, next := 0, 0, 0
	for field := 0; ; field++ {
		end := fieldEnd(line, pos)
		if next < len(m.cols) && m.cols[next].index == field {
			dst = append(dst, line[copied:pos]...)
			var err error
			dst, err = m.rewrite(dst, &m.cols[next], line[pos:end])
			if err != nil {
				return dst[:start], err
			}
			copied = end
			next++
		}
		if end == len(line) {
			if field+1 != m.ncols {
				return dst[:start], fmt.Errorf("mask %s: %w: %d fields, want %d", m.table, ErrFieldCount, field+1, m.ncols)
			}
			break
		}
		if field+1 == m.ncols {
			return dst[:start], fmt.Errorf("mask %s: %w: more than %d fields", m.table, ErrFieldCount, m.ncols)
		}
		pos = end + 1
	}
	return append(dst, line[copied:]...), nil
}

func (m *TableMasker) rewrite(dst []byte, c *column, raw []byte) ([]byte, error) {
	isNull := IsNull(raw)
	if !isNull {
		var err error
		if m.dec, err = DecodeField(m.dec[:0], raw); err != nil {
			return dst, fmt.Errorf("mask %s.%s: %w", m.table, c.name, err)
		}
	}
	out, outNull, err := m.applyColumn(c, m.dec, isNull)
	if err != nil {
		return dst, fmt.Errorf("mask %s.%s: %w", m.table, c.name, err)
	}
	if outNull {
		return append(dst, NullField...), nil
	}
	return AppendField(dst, out), nil
}

// MaskValue masks one decoded value of a ruled column (for in-place masking and the
// verification gate). out aliases the masker's scratch and is valid until its next call; v
// must not alias an earlier out.
func (m *TableMasker) MaskValue(column string, v []byte, null bool) (out []byte, outNull bool, err error) {
	i, ok := m.byName[column]
	if !ok {
		return nil, false, fmt.Errorf("mask %s: %w: %s has no rule", m.table, ErrUnknownColumn, column)
	}
	out, outNull, err = m.applyColumn(&m.cols[i], v, null)
	if err != nil {
		return nil, false, fmt.Errorf("mask %s.%s: %w", m.table, column, err)
	}
	return out, outNull, nil
}

// applyColumn masks one value of a column: a document by its json paths, an array element
// by element (but for null and fixed, which replace the whole value), anything else whole.
func (m *TableMasker) applyColumn(c *column, v []byte, isNull bool) ([]byte, bool, error) {
	rl := c.rule
	whole := rl.strategy == null || rl.strategy == fixed
	switch {
	case isNull && !whole:
		return nil, true, nil
	case rl.strategy == jsonPaths:
		out, err := m.maskJSON(m.jout[:0], v, rl.paths)
		m.jout = out
		return out, false, err
	case c.typ.dims > 0 && !whole:
		elem := c.typ
		elem.dims = 0
		out, err := maskArray(m.aout[:0], v, func(e []byte) ([]byte, bool, error) { return m.apply(rl, elem, e, false) })
		m.aout = out
		return out, false, err
	}
	return m.apply(rl, c.typ, v, isNull)
}

// apply runs one rule on one value of type t (an array element's type for arrays). NULL
// stays NULL and the empty string stays empty, except for null (always NULL) and fixed
// (always its value).
func (m *TableMasker) apply(rl *rule, t colType, v []byte, isNull bool) ([]byte, bool, error) {
	switch {
	case rl.strategy == null:
		return nil, true, nil
	case rl.strategy == fixed:
		return rl.value[:len(rl.value):len(rl.value)], false, nil // capped: an append by the caller copies
	case isNull:
		return nil, true, nil
	case len(v) == 0:
		return m.out[:0], false, nil
	case rl.strategy == partial:
		m.out = m.partial(m.out[:0], rl, v)
		return m.out, false, nil
	case rl.strategy == token:
		m.out = m.token(m.out[:0], rl, v)
		return m.out, false, nil
	case rl.strategy == byType && rl.typ.kind == kindJSON:
		out, err := m.maskJSON(m.jout[:0], v, nil)
		m.jout = out
		return out, false, err
	case rl.strategy == byType:
		out, err := m.byTypeValue(m.out[:0], rl, v)
		m.out = out
		return out, false, err
	case rl.strategy == noise:
		out, err := m.noise(m.out[:0], rl, t, v)
		m.out = out
		return out, false, err
	case rl.strategy == shift:
		out, err := m.shift(m.out[:0], rl, v)
		m.out = out
		return out, false, err
	}
	for c := range maxRerolls {
		m.out = m.fake(m.out[:0], rl, byte(c), v)
		if !bytes.Equal(m.out, v) {
			return m.out, false, nil
		}
	}
	return nil, false, ErrNoFake
}

func (m *TableMasker) fake(dst []byte, rl *rule, c byte, v []byte) []byte {
	switch rl.strategy {
	case fakeEmail:
		return m.fakeEmail(dst, rl.name, c, v)
	case fakePhone:
		return m.fakePhone(dst, rl.name, c, v)
	case fakeSSN:
		return m.fakeSSN(dst, rl.name, c, v)
	case fakeCard:
		return m.fakeCard(dst, rl.name, c, v)
	default: // fakeName; validate admits no other strategy here
		return m.fakeName(dst, rl.name, c, v)
	}
}

// prf sets m.sum to the 16 bytes of SipHash-2-4-128(k0 k1, tag 0x00 counter block value),
// the keyed PRF of the fakes and tags: about a fifth of HMAC-SHA256's cost on short values,
// which is most of masking's CPU. Tags are strategy names, which contain no NUL, so distinct
// (tag, counter, block, value) never share an input.
func (m *TableMasker) prf(tag string, counter, block byte, v []byte) {
	m.in = append(append(append(m.in[:0], tag...), 0, counter, block), v...)
	h0, h1 := siphash.Hash128(m.k0, m.k1, m.in)
	m.sum = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(m.sum[:0], h0), h1)
}

// hmacPRF sets m.sum to HMAC-SHA256(key, tag 0x00 0x00 0x00 value): token's 256 bits.
func (m *TableMasker) hmacPRF(tag string, v []byte) {
	m.in = append(append(m.in[:0], tag...), 0, 0, 0)
	m.mac.Reset()
	m.mac.Write(m.in)
	m.mac.Write(v)
	m.sum = m.mac.Sum(m.sum[:0])
}

// lowerBase32 encodes tokens in lower case without padding.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tagBytes is how many PRF bytes a uniqueness tag keeps: 80 bits, 16 base32 characters.
const tagBytes = 10

func (m *TableMasker) token(dst []byte, rl *rule, v []byte) []byte {
	m.hmacPRF(StrategyToken, v)
	start := len(dst)
	if rl.format == formatBase32 {
		dst = lowerBase32.AppendEncode(dst, m.sum)
	} else {
		dst = hex.AppendEncode(dst, m.sum)
	}
	return dst[:start+rl.length]
}

// appendTag appends the 80-bit keyed tag that keeps unique partial values unique.
func (m *TableMasker) appendTag(dst []byte, v []byte) []byte {
	m.prf(StrategyPartial, 0, 0, v)
	return lowerBase32.AppendEncode(dst, m.sum[:tagBytes])
}

// partial redacts: an email keeps the start of its local part, then ***, then its domain;
// any other value keeps its first keep_first and last keep_last letters or digits (default
// 1 and 1) and stars the letters and digits between, keeping punctuation and spaces. A value
// too short to hide anything has all its letters and digits starred. With unique, a keyed
// tag is added (+tag in the email's local part, ~tag after other values).
func (m *TableMasker) partial(dst []byte, rl *rule, v []byte) []byte {
	if at := bytes.LastIndexByte(v, '@'); at > 0 && at < len(v)-1 {
		local, domain := v[:at], v[at:]
		n := utf8.RuneCount(local)
		keep := rl.keepFirst
		if keep < 0 {
			keep = min(n/2, 6)
		}
		keep = min(keep, n-1)
		for i := 0; i < keep; i++ {
			_, size := utf8.DecodeRune(local)
			dst = append(dst, local[:size]...)
			local = local[size:]
		}
		dst = append(dst, "***"...)
		if rl.unique {
			dst = append(dst, '+')
			dst = m.appendTag(dst, v)
		}
		return append(dst, domain...)
	}
	first, last := rl.keepFirst, rl.keepLast
	if first < 0 {
		first = 1
	}
	if last < 0 {
		last = 1
	}
	total := 0
	for rest := v; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		if significant(r) {
			total++
		}
		rest = rest[size:]
	}
	if first+last >= total {
		first, last = 0, 0
	}
	i := 0
	for rest := v; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		switch {
		case !significant(r) || i < first || i >= total-last:
			dst = append(dst, rest[:size]...)
		default:
			dst = append(dst, '*')
		}
		if significant(r) {
			i++
		}
		rest = rest[size:]
	}
	if rl.unique {
		dst = append(dst, '~')
		dst = m.appendTag(dst, v)
	}
	return dst
}

func significant(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// fakeEmail returns firstname.<80-bit tag>@example.com.
func (m *TableMasker) fakeEmail(dst []byte, tag string, c byte, v []byte) []byte {
	m.prf(tag, c, 0, v)
	name := firstNames[int(binary.LittleEndian.Uint16(m.sum[tagBytes:]))%len(firstNames)]
	for i := 0; i < len(name); i++ {
		dst = append(dst, name[i]|0x20) // names are ASCII letters: lower-case them
	}
	dst = append(dst, '.')
	dst = lowerBase32.AppendEncode(dst, m.sum[:tagBytes])
	return append(dst, "@example.com"...)
}

// fakeName returns "First Last" from the built-in lists, or a first name alone when the
// input has no space.
func (m *TableMasker) fakeName(dst []byte, tag string, c byte, v []byte) []byte {
	m.prf(tag, c, 0, v)
	dst = append(dst, firstNames[int(binary.LittleEndian.Uint16(m.sum[0:]))%len(firstNames)]...)
	if bytes.IndexByte(bytes.TrimSpace(v), ' ') >= 0 {
		dst = append(dst, ' ')
		dst = append(dst, lastNames[int(binary.LittleEndian.Uint16(m.sum[2:]))%len(lastNames)]...)
	}
	return dst
}

// fakePhone replaces every digit, keeping the layout; a leading +country code group of up
// to three digits is kept. A value without digits becomes 555-01dd (a fictional range).
func (m *TableMasker) fakePhone(dst []byte, tag string, c byte, v []byte) []byte {
	n := countDigits(v)
	if n == 0 {
		m.startDigits(tag, c, v)
		return append(dst, '5', '5', '5', '-', '0', '1', '0'+m.digit(), '0'+m.digit())
	}
	keep := 0
	if v[0] == '+' {
		for keep < len(v)-1 && isDigit(v[keep+1]) {
			keep++
		}
		if keep > 3 || keep == n || keep+1 == len(v) {
			keep = 0
		}
	}
	m.startDigits(tag, c, v)
	m.digs = m.digs[:0]
	for _, b := range v {
		if isDigit(b) {
			if len(m.digs) < keep {
				m.digs = append(m.digs, b-'0')
			} else {
				m.digs = append(m.digs, m.digit())
			}
		}
	}
	return layoutDigits(dst, v, m.digs)
}

// fakeSSN returns an SSN in the never-issued 900-999 area, group 01-99, serial 0001-9999,
// in the input's layout when it has nine digits, else as ddd-dd-dddd.
func (m *TableMasker) fakeSSN(dst []byte, tag string, c byte, v []byte) []byte {
	m.prf(tag, c, 0, v)
	x := binary.LittleEndian.Uint64(m.sum)
	area, group, serial := 900+x%100, 1+(x/100)%99, 1+(x/9900)%9999
	m.digs = append(m.digs[:0],
		byte(area/100), byte(area/10%10), byte(area%10),
		byte(group/10), byte(group%10),
		byte(serial/1000), byte(serial/100%10), byte(serial/10%10), byte(serial%10))
	if countDigits(v) == 9 {
		return layoutDigits(dst, v, m.digs)
	}
	for i, d := range m.digs {
		if i == 3 || i == 5 {
			dst = append(dst, '-')
		}
		dst = append(dst, '0'+d)
	}
	return dst
}

// fakeCard keeps the length, the layout and the first two digits (the card network) and
// ends in a valid Luhn check digit. A value with fewer than 12 digits is no card number:
// its digits are replaced as fakePhone does, without the Luhn digit.
func (m *TableMasker) fakeCard(dst []byte, tag string, c byte, v []byte) []byte {
	n := countDigits(v)
	if n < 12 {
		return m.fakePhone(dst, tag, c, v)
	}
	m.startDigits(tag, c, v)
	m.digs = m.digs[:0]
	for _, b := range v {
		if isDigit(b) {
			if len(m.digs) < 2 {
				m.digs = append(m.digs, b-'0')
			} else {
				m.digs = append(m.digs, m.digit())
			}
		}
	}
	m.digs[n-1] = luhnCheckDigit(m.digs[:n-1])
	return layoutDigits(dst, v, m.digs)
}

// luhnCheckDigit returns the digit that makes payload followed by it pass the Luhn check.
func luhnCheckDigit(payload []byte) byte {
	sum := 0
	double := true
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i])
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte((10 - sum%10) % 10)
}

// layoutDigits writes v with its digits replaced, in order, by digits (values 0-9).
func layoutDigits(dst, v, digits []byte) []byte {
	i := 0
	for _, b := range v {
		if isDigit(b) && i < len(digits) {
			b = '0' + digits[i]
			i++
		}
		dst = append(dst, b)
	}
	return dst
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func countDigits(v []byte) int {
	n := 0
	for _, b := range v {
		if isDigit(b) {
			n++
		}
	}
	return n
}

// digitsPerWord is how many decimal digits one 64-bit word yields with negligible bias.
const digitsPerWord = 18

// startDigits begins a stream of pseudo-random decimal digits keyed by (tag, counter, v).
func (m *TableMasker) startDigits(tag string, counter byte, v []byte) {
	m.dTag, m.dCount, m.dV, m.dBlock = tag, counter, v, 0
	m.refillDigits()
}

func (m *TableMasker) refillDigits() {
	m.prf(m.dTag, m.dCount, m.dBlock, m.dV)
	m.dBlock++
	m.dWord, m.dLeft = 0, digitsPerWord
	m.dCur = binary.LittleEndian.Uint64(m.sum)
}

func (m *TableMasker) digit() byte {
	if m.dLeft == 0 {
		m.dWord++
		if m.dWord == len(m.sum)/8 {
			m.refillDigits()
		} else {
			m.dCur = binary.LittleEndian.Uint64(m.sum[8*m.dWord:])
			m.dLeft = digitsPerWord
		}
	}
	d := m.dCur % 10
	m.dCur /= 10
	m.dLeft--
	return byte(d)
}
