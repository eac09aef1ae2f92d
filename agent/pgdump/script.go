package pgdump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"strings"
)

// ScriptItem is one thing a SQL script does, in file order: a SQL statement, a COPY block
// whose rows follow it in the script, or a psql meta-command.
type ScriptItem struct {
	// Section is the part of the restore the item belongs to, as far as the statement
	// tells: COPY and INSERT are data, so is SELECT pg_catalog.setval; indexes,
	// constraints, triggers, rules, policies and the like are post-data. Any other
	// statement belongs to the latest section seen so far (pre-data at first), which is
	// how pg_dump orders its output.
	Section Section
	// Desc names the kind of item where the statement shows it, using pg_dump's TOC words:
	// "TABLE DATA", "SEQUENCE SET", "INDEX", "CONSTRAINT", "FK CONSTRAINT", "TRIGGER",
	// "SET" (session settings), "BLOB" (lo_create), "BLOBS" (lo_open, lowrite and
	// lo_close, which must run in order on one connection, inside the script's BEGIN and
	// COMMIT), ...; empty otherwise.
	Desc string
	// SQL is the statement with its terminating ";", without the comments before it.
	// For a COPY block it is the COPY statement.
	SQL  string
	Copy *CopyBlock
	// Meta is a psql meta-command line such as `\connect db` or `\restrict key`, without
	// its newline; SQL and Copy are then empty.
	Meta string
	// Line is the script line the item starts on.
	Line int
}

// CopyBlock is a COPY ... FROM stdin statement and its rows.
type CopyBlock struct {
	Table        string // "schema.table" unquoted, as Entry.QualifiedName
	Schema, Name string
	Columns      []string // unquoted; nil when the statement lists none
	Stmt         string
	// Rows streams the COPY text up to, not including, the "\." line. Reading it past the
	// end of the script without that line returns an error wrapping ErrCorrupt. Next
	// discards whatever the caller did not read.
	Rows io.Reader
}

// ScriptReader splits a SQL script (pg_dump -Fp output) into statements and COPY blocks
// as psql would run them: quotes, E'...' strings, dollar quoting, nested comments, BEGIN
// ATOMIC function bodies and parentheses are respected.
type ScriptReader struct {
	br         *bufio.Reader
	line       int
	section    Section
	stdStrings bool // standard_conforming_strings: backslashes are plain in '' strings
	rows       *copyRows
	pgDump     bool // the script starts with pg_dump's header comment
	complete   bool // pg_dump's closing comment was seen
	started    bool
	limit      int // maxStatement, lowered by tests
	err        error
}

// NewScriptReader returns a reader of the SQL script r (uncompressed; see OpenScript).
func NewScriptReader(r io.Reader) *ScriptReader {
	return &ScriptReader{br: bufio.NewReaderSize(r, readBufSize), line: 1, section: SectionPreData, stdStrings: true, limit: maxStatement}
}

// OpenScript returns a reader of a SQL script that may be gzip-compressed. It returns an
// error wrapping ErrUnsupported when r is neither, or is a compressed custom archive.
func OpenScript(r io.Reader) (*ScriptReader, error) {
	br := bufio.NewReaderSize(r, readBufSize)
	head, err := peekHead(br)
	if err != nil {
		return nil, err
	}
	switch Detect(head) {
	case FormatPlain:
		return NewScriptReader(br), nil
	case FormatCustom:
		return nil, unsupportedf("a custom-format archive, not a SQL script")
	case FormatPlainGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, asGzipCorrupt(err)
		}
		zb := bufio.NewReaderSize(&gunzipErrs{zr}, readBufSize)
		if head, err = peekHead(zb); err != nil {
			return nil, err
		}
		switch Detect(head) {
		case FormatPlain:
			return NewScriptReader(zb), nil
		case FormatCustom:
			return nil, unsupportedf("a gzip-compressed custom-format archive; gunzip it first")
		}
		return nil, unsupportedf("gzip-compressed data that is not a SQL script")
	}
	return nil, unsupportedf("not a SQL script or a pg_dump archive")
}

// peekHead returns the first bytes of br for Detect, and any read error but the end.
func peekHead(br *bufio.Reader) ([]byte, error) {
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return head, nil
}

type gunzipErrs struct{ r io.Reader }

func (g *gunzipErrs) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = asGzipCorrupt(err)
	}
	return n, err
}

func asGzipCorrupt(err error) error {
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return corruptf("gzip: %v", err)
	}
	return asCorrupt(err, -1, "compressed data")
}

// Next returns the next item, io.EOF after the last one, or an error wrapping ErrCorrupt
// when the script ends inside a quote, comment, statement or COPY block, or (for a script
// that starts like pg_dump output) without pg_dump's closing comment.
func (s *ScriptReader) Next() (ScriptItem, error) {
	if s.err != nil {
		return ScriptItem{}, s.err
	}
	item, err := s.next()
	if err != nil {
		s.err = err
	}
	return item, err
}

func (s *ScriptReader) next() (ScriptItem, error) {
	// step 1: finish the previous COPY block.
	if s.rows != nil {
		if _, err := io.Copy(io.Discard, s.rows); err != nil {
			return ScriptItem{}, err
		}
		s.line += s.rows.lines
		s.rows = nil
	}
	// step 2: skip white space and comments up to the next item.
	if err := s.skipGap(); err != nil {
		return ScriptItem{}, err
	}
	start := s.line
	c, err := s.br.ReadByte()
	if errors.Is(err, io.EOF) {
		if s.pgDump && !s.complete {
			return ScriptItem{}, corruptf("line %d: the script ends without pg_dump's \"dump complete\" line; it is truncated", s.line)
		}
		return ScriptItem{}, io.EOF
	}
	if err != nil {
		return ScriptItem{}, err
	}
	// step 3: a psql meta-command runs to the end of its line.
	if c == '\\' {
		var line bytes.Buffer
		line.WriteByte(c)
		if err := s.readLine(&line, false); err != nil {
			return ScriptItem{}, err
		}
		meta := strings.TrimRight(line.String(), "\r\n")
		return ScriptItem{Section: s.section, Meta: meta, Line: start}, nil
	}
	if err := s.br.UnreadByte(); err != nil {
		return ScriptItem{}, err
	}
	// step 4: a statement runs to a semicolon outside quotes, parentheses and bodies.
	stmt, err := s.statement()
	if err != nil {
		return ScriptItem{}, err
	}
	item := ScriptItem{SQL: stmt, Line: start}
	item.Section, item.Desc = s.classify(stmt)
	// step 5: a COPY FROM stdin has its rows on the lines after it.
	if item.Desc == "TABLE DATA" {
		if c, err := parseCopyStmt(stmt); err == nil {
			if err := s.restOfLine(); err != nil {
				return ScriptItem{}, err
			}
			s.rows = &copyRows{br: s.br, lineStart: true, missing: s.missingEnd(stmt, start)}
			table := c.table
			if c.schema != "" {
				table = c.schema + "." + c.table
			}
			item.Copy = &CopyBlock{Table: table, Schema: c.schema, Name: c.table, Columns: c.columns, Stmt: stmt, Rows: s.rows}
		}
	}
	return item, nil
}

func (s *ScriptReader) missingEnd(stmt string, line int) func() error {
	return func() error {
		return corruptf("line %d: the script ends inside the COPY data of %q (started line %d) before its \\. line",
			s.line+s.rows.lines, firstLine(stmt), line)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// restOfLine consumes the remainder of the COPY statement's line.
func (s *ScriptReader) restOfLine() error {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c == '\n' {
			s.line++
			return nil
		}
	}
}

// skipGap skips white space and comments between items, noting pg_dump's header and
// closing comments.
func (s *ScriptReader) skipGap() error {
	for {
		b, err := s.br.Peek(2)
		if len(b) == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}
		switch {
		case b[0] == '\n':
			s.line++
		case b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\f':
		case len(b) == 2 && b[0] == '-' && b[1] == '-':
			var text bytes.Buffer
			if err := s.readLine(&text, true); err != nil {
				return err
			}
			s.noteComment(strings.TrimSpace(text.String()[2:]))
			continue
		case len(b) == 2 && b[0] == '/' && b[1] == '*':
			_, _ = s.br.Discard(1)
			if err := s.blockComment(nil); err != nil {
				return err
			}
			continue
		default:
			s.started = true
			return nil
		}
		_, _ = s.br.Discard(1)
	}
}

func (s *ScriptReader) noteComment(text string) {
	if !s.started {
		if strings.HasPrefix(text, "PostgreSQL database dump") || strings.HasPrefix(text, "PostgreSQL database cluster dump") {
			s.pgDump = true
		}
		return
	}
	if strings.HasPrefix(text, "PostgreSQL database") && strings.HasSuffix(text, "dump complete") {
		s.complete = true
	}
}

// statement reads one statement up to and including its top-level semicolon.
func (s *ScriptReader) statement() (string, error) {
	var b bytes.Buffer
	start := s.line
	parens := 0
	body := bodyTracker{}
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", corruptf("line %d: the script ends inside a statement that started line %d (no terminating ';'): %q",
					s.line, start, clip(b.String()))
			}
			return "", err
		}
		if b.Len() > s.limit {
			return "", s.tooLong()
		}
		b.WriteByte(c)
		switch {
		case c == '\n':
			s.line++
		case c == ';' && parens == 0 && body.depth == 0:
			return b.String(), nil
		case c == '(':
			parens++
		case c == ')':
			if parens > 0 {
				parens--
			}
		case c == '\'':
			if err := s.quoted(&b, '\'', !s.stdStrings); err != nil {
				return "", err
			}
		case c == '"':
			if err := s.quoted(&b, '"', false); err != nil {
				return "", err
			}
		case c == '-' && s.peekIs('-'):
			if err := s.lineComment(&b); err != nil {
				return "", err
			}
		case c == '/' && s.peekIs('*'):
			if err := s.blockComment(&b); err != nil {
				return "", err
			}
		case c == '$' && !endsWithIdent(b.Bytes()[:b.Len()-1]):
			if err := s.dollar(&b); err != nil {
				return "", err
			}
		case isIdentStart(c) && !endsWithIdent(b.Bytes()[:b.Len()-1]):
			word, err := s.word(&b)
			if err != nil {
				return "", err
			}
			if (word == "e" || word == "E") && s.peekIs('\'') {
				q, _ := s.br.ReadByte()
				b.WriteByte(q)
				if err := s.quoted(&b, '\'', true); err != nil {
					return "", err
				}
				continue
			}
			body.word(word, parens)
		}
	}
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func endsWithIdent(b []byte) bool {
	return len(b) > 0 && isIdentCont(b[len(b)-1])
}

func (s *ScriptReader) peekIs(c byte) bool {
	next, _ := s.br.Peek(1)
	return len(next) == 1 && next[0] == c
}

// word reads the rest of an identifier or keyword whose first byte is already in b.
func (s *ScriptReader) word(b *bytes.Buffer) (string, error) {
	startLen := b.Len() - 1
	for {
		next, err := s.br.Peek(1)
		if len(next) == 0 || !isIdentCont(next[0]) {
			if err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			return string(b.Bytes()[startLen:]), nil
		}
		c, _ := s.br.ReadByte()
		b.WriteByte(c)
	}
}

// quoted reads up to the closing quote q (the opening one is already in b). A doubled
// quote stands for itself; with backslash, a backslash escapes the next byte.
func (s *ScriptReader) quoted(b *bytes.Buffer, q byte, backslash bool) error {
	start := s.line
	what := fmt.Sprintf("a %c-quoted string", q)
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return s.unterminated(err, what, start)
		}
		if b.Len() > s.limit {
			return s.tooLong()
		}
		b.WriteByte(c)
		switch {
		case c == '\n':
			s.line++
		case c == '\\' && backslash:
			c, err := s.br.ReadByte()
			if err != nil {
				return s.unterminated(err, what, start)
			}
			b.WriteByte(c)
			if c == '\n' {
				s.line++
			}
		case c == q:
			if !s.peekIs(q) {
				return nil
			}
			c, _ = s.br.ReadByte()
			b.WriteByte(c)
		}
	}
}

func (s *ScriptReader) unterminated(err error, what string, start int) error {
	if errors.Is(err, io.EOF) {
		return corruptf("line %d: the script ends inside %s that started line %d", s.line, what, start)
	}
	return err
}

func (s *ScriptReader) lineComment(b *bytes.Buffer) error { return s.readLine(b, false) }

// readLine appends the input through the next newline (or the end) to b. Past a short
// prefix, a comment being skipped (keepPrefix) is discarded instead of kept; anything
// else longer than the limit is an error.
func (s *ScriptReader) readLine(b *bytes.Buffer, keepPrefix bool) error {
	for {
		frag, err := s.br.ReadSlice('\n')
		switch {
		case keepPrefix:
			b.Write(frag[:min(len(frag), max(0, 256-b.Len()))])
		case b.Len()+len(frag) > s.limit:
			return s.tooLong()
		default:
			b.Write(frag)
		}
		switch {
		case err == nil:
			s.line++
			return nil
		case errors.Is(err, io.EOF):
			return nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return err
		}
	}
}

func (s *ScriptReader) tooLong() error {
	return corruptf("line %d: a statement or comment longer than %d bytes; is a quote unterminated?", s.line, s.limit)
}

// blockComment reads a /* comment */, which may nest; the '/' has been read. The comment
// is appended to b unless b is nil.
func (s *ScriptReader) blockComment(b *bytes.Buffer) error {
	start := s.line
	c, _ := s.br.ReadByte() // the '*'
	if b != nil {
		b.WriteByte(c)
	}
	depth := 1
	var prev byte
	for depth > 0 {
		c, err := s.br.ReadByte()
		if err != nil {
			return s.unterminated(err, "a /* comment */", start)
		}
		if b != nil {
			if b.Len() > s.limit {
				return s.tooLong()
			}
			b.WriteByte(c)
		}
		switch {
		case c == '\n':
			s.line++
		case prev == '/' && c == '*':
			depth++
			c = 0
		case prev == '*' && c == '/':
			depth--
			c = 0
		}
		prev = c
	}
	return nil
}

// dollar reads a dollar-quoted string if the '$' in b opens one ($$ or $tag$); otherwise
// (a parameter such as $1) it leaves the input alone.
func (s *ScriptReader) dollar(b *bytes.Buffer) error {
	tagLen := 0
	for {
		next, err := s.br.Peek(tagLen + 1)
		if len(next) < tagLen+1 {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}
		c := next[tagLen]
		if c == '$' {
			break
		}
		if !isIdentStart(c) && (tagLen == 0 || c < '0' || c > '9') || tagLen >= 256 {
			return nil
		}
		tagLen++
	}
	open := make([]byte, tagLen+1)
	_, _ = io.ReadFull(s.br, open)
	b.Write(open)
	delim := append([]byte{'$'}, open...)
	bodyStart := b.Len()
	start := s.line
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return s.unterminated(err, fmt.Sprintf("a %s-quoted string", delim), start)
		}
		if b.Len() > s.limit {
			return s.tooLong()
		}
		b.WriteByte(c)
		if c == '\n' {
			s.line++
		}
		if c == '$' && b.Len()-bodyStart >= len(delim) && bytes.HasSuffix(b.Bytes(), delim) {
			return nil
		}
	}
}

// bodyTracker follows BEGIN ... END bodies of CREATE FUNCTION/PROCEDURE statements
// (BEGIN ATOMIC), whose semicolons do not end the statement, the way psql guesses them.
type bodyTracker struct {
	words []string // the first words of the statement, lower case
	depth int
}

func (t *bodyTracker) word(w string, parens int) {
	lw := strings.ToLower(w)
	if len(t.words) < 4 {
		t.words = append(t.words, lw)
	}
	if parens > 0 || !t.isRoutine() {
		return
	}
	switch lw {
	case "begin":
		t.depth++
	case "case":
		if t.depth > 0 {
			t.depth++
		}
	case "end":
		if t.depth > 0 {
			t.depth--
		}
	}
}

func (t *bodyTracker) isRoutine() bool {
	w := t.words
	routine := func(i int) bool { return len(w) > i && (w[i] == "function" || w[i] == "procedure") }
	if len(w) == 0 || w[0] != "create" {
		return false
	}
	return routine(1) || (len(w) > 2 && w[1] == "or" && w[2] == "replace" && routine(3))
}
