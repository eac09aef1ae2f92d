package pgdump

import (
	"bufio"
	"bytes"
	"io"
)

// copyRows streams COPY text rows from br and stops before the end-of-data line "\.".
// The bytes after that line are left in br (a SQL script continues there).
type copyRows struct {
	br        *bufio.Reader
	lineStart bool // the next byte in br starts a line
	done      bool
	err       error
	lines     int // newlines returned so far
	// missing builds the error for input that ends without "\."; nil means the marker is
	// optional and the rows simply end with the input (custom archives).
	missing func() error
	// onEnd runs once when the rows have ended, to check what follows them.
	onEnd func() error
}

var newlineDot = []byte("\n\\.")

func (c *copyRows) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := 4
	for {
		buf, err := c.br.Peek(want)
		atEOF := false
		switch {
		case err == io.EOF:
			atEOF = true
		case err != nil:
			c.err = err
			return 0, err
		}
		if n := c.br.Buffered(); n > len(buf) {
			buf, _ = c.br.Peek(n)
		}
		if c.lineStart {
			if n := endMarkerLen(buf, atEOF); n > 0 {
				return 0, c.finish(n)
			}
		}
		if len(buf) == 0 {
			if c.missing != nil {
				c.err = c.missing()
				return 0, c.err
			}
			return 0, c.finish(0)
		}
		emit := len(buf)
		if i := bytes.Index(buf, newlineDot); i >= 0 {
			emit = i + 1
		} else if !atEOF {
			// Hold back a tail that may be the start of "\n\.".
			if buf[len(buf)-1] == '\n' {
				emit--
			} else if len(buf) >= 2 && buf[len(buf)-2] == '\n' && buf[len(buf)-1] == '\\' {
				emit -= 2
			}
			if emit == 0 {
				want = len(buf) + 2
				continue
			}
		}
		n := copy(p, buf[:emit])
		_, _ = c.br.Discard(n)
		c.lineStart = p[n-1] == '\n'
		c.lines += bytes.Count(p[:n], []byte{'\n'})
		return n, nil
	}
}

// endMarkerLen returns the length of the end-of-data line at the start of buf ("\." then a
// newline, or the end of input), or 0 if buf does not start with one.
func endMarkerLen(buf []byte, atEOF bool) int {
	if len(buf) < 2 || buf[0] != '\\' || buf[1] != '.' {
		return 0
	}
	switch {
	case len(buf) >= 3 && buf[2] == '\n':
		return 3
	case len(buf) >= 4 && buf[2] == '\r' && buf[3] == '\n':
		return 4
	case atEOF && len(buf) == 2:
		return 2
	case atEOF && len(buf) == 3 && buf[2] == '\r':
		return 3
	}
	return 0
}

func (c *copyRows) finish(n int) error {
	_, _ = c.br.Discard(n)
	c.done = true
	if n > 0 {
		c.lines++
	}
	if c.onEnd != nil {
		if err := c.onEnd(); err != nil {
			c.err = err
			return err
		}
	}
	return io.EOF
}
