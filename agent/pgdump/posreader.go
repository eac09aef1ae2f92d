package pgdump

import (
	"bufio"
	"errors"
	"io"
)

// posReader reads the archive sequentially from a position, through a buffer, and knows
// the absolute offset of every byte it returns so errors can say where they happened.
type posReader struct {
	ra   io.ReaderAt
	size int64
	br   *bufio.Reader
	pos  int64 // offset of the next byte br returns
}

const readBufSize = 256 << 10

func newPosReader(ra io.ReaderAt, size, pos int64, bufSize int) *posReader {
	p := &posReader{ra: ra, size: size}
	p.br = bufio.NewReaderSize(io.NewSectionReader(ra, pos, size-pos), bufSize)
	p.pos = pos
	return p
}

// seek moves to off, reusing the buffer.
func (p *posReader) seek(off int64) {
	p.br.Reset(io.NewSectionReader(p.ra, off, p.size-off))
	p.pos = off
}

func (p *posReader) left() int64 { return p.size - p.pos }

// eofErr turns an end of input into ErrCorrupt naming what was being read.
func (p *posReader) eofErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corruptf("offset %d: archive ends while reading %s", p.pos, what)
	}
	return err
}

func (p *posReader) byte(what string) (byte, error) {
	b, err := p.br.ReadByte()
	if err != nil {
		return 0, p.eofErr(err, what)
	}
	p.pos++
	return b, nil
}

func (p *posReader) full(buf []byte, what string) error {
	n, err := io.ReadFull(p.br, buf)
	p.pos += int64(n)
	if err != nil {
		return p.eofErr(err, what)
	}
	return nil
}

func (p *posReader) skip(n int64, what string) error {
	if n > p.left() {
		return corruptf("offset %d: %s of %d bytes runs past the end of the archive (%d bytes left)", p.pos, what, n, p.left())
	}
	if n > int64(p.br.Buffered())+readBufSize {
		p.seek(p.pos + n)
		return nil
	}
	d, err := p.br.Discard(int(n))
	p.pos += int64(d)
	if err != nil {
		return p.eofErr(err, what)
	}
	return nil
}

// archInt reads an archive integer: a sign byte (0 or 1) then intSize little-endian bytes.
func (p *posReader) archInt(intSize int, what string) (int64, error) {
	start := p.pos
	sign, err := p.byte(what)
	if err != nil {
		return 0, err
	}
	if sign > 1 {
		return 0, corruptf("offset %d: %s: sign byte is %d, want 0 or 1", start, what, sign)
	}
	var buf [8]byte
	if err := p.full(buf[:intSize], what); err != nil {
		return 0, err
	}
	var v uint64
	for i := intSize - 1; i >= 0; i-- {
		v = v<<8 | uint64(buf[i])
	}
	if v > 1<<62 {
		return 0, corruptf("offset %d: %s: value %d out of range", start, what, v)
	}
	if sign == 1 {
		return -int64(v), nil
	}
	return int64(v), nil
}
