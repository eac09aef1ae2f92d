package pgdump

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Data returns the COPY text of a TABLE DATA entry, decompressed: rows terminated by "\n",
// without the end-of-data line "\.". Each call reads the archive independently, so several
// goroutines may stream different entries at once. When the archive does not record data
// offsets (it was written to a pipe), the blocks are found by scanning once.
//
// Errors (from Data or from reading the stream) wrap ErrCorrupt for damaged data,
// ErrNoData for an entry without data, and ErrUnsupported for large objects.
func (a *Archive) Data(e Entry) (io.ReadCloser, error) {
	i, ok := a.byID[e.DumpID]
	if !ok {
		return nil, fmt.Errorf("pgdump: no TOC entry with dump id %d", e.DumpID)
	}
	e = a.Entries[i]
	name := fmt.Sprintf("entry %d %s %s", e.DumpID, e.Desc, e.QualifiedName())
	if e.Desc == "BLOBS" {
		return nil, unsupportedf("%s: restoring large objects is not supported", name)
	}
	if !e.HasData {
		return nil, fmt.Errorf("%s: %w", name, ErrNoData)
	}
	off := e.DataOffset
	if off == 0 {
		var err error
		if off, err = a.locate(e.DumpID); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	s, err := a.openBlock(e, off)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.name = name
	return s, nil
}

// dataStream is what Data returns.
type dataStream struct {
	name   string
	rows   *copyRows
	chunks *chunkReader
	zr     io.ReadCloser // nil when uncompressed or empty
}

func (a *Archive) openBlock(e Entry, off int64) (*dataStream, error) {
	p := newPosReader(a.ra, a.size, off, readBufSize)
	typ, err := p.byte("data block type")
	if err != nil {
		return nil, err
	}
	id, err := p.archInt(a.IntSize, "data block dump id")
	if err != nil {
		return nil, err
	}
	if typ != blockData || id != int64(e.DumpID) {
		return nil, corruptf("offset %d: want a data block (type 1) of entry %d, found type %d of entry %d", off, e.DumpID, typ, id)
	}
	s := &dataStream{chunks: &chunkReader{p: p, intSize: a.IntSize}}
	var src io.Reader = s.chunks
	if a.Compression == "gzip" {
		empty, err := s.chunks.empty()
		if err != nil {
			return nil, err
		}
		if !empty {
			zr, err := zlib.NewReader(s.chunks)
			if err != nil {
				return nil, asCorrupt(err, p.pos, "zlib header")
			}
			s.zr = zr
			src = &inflateErrs{r: zr, p: p}
		}
	}
	br := bufio.NewReaderSize(src, readBufSize)
	s.rows = &copyRows{br: br, lineStart: true, onEnd: func() error { return s.drain(br) }}
	return s, nil
}

// drain reads what follows the end-of-data line, so the checksum of compressed data is
// verified and a block cut short is noticed even though no more rows are returned.
func (s *dataStream) drain(br *bufio.Reader) error {
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if s.zr != nil {
		var one [1]byte
		if n, err := s.chunks.Read(one[:]); n > 0 || !errors.Is(err, io.EOF) {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return corruptf("offset %d: bytes after the end of the compressed stream", s.chunks.p.pos)
		}
	}
	return nil
}

func (s *dataStream) Read(p []byte) (int, error) {
	n, err := s.rows.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: %w", s.name, err)
	}
	return n, err
}

func (s *dataStream) Close() error {
	if s.zr != nil {
		_ = s.zr.Close() // only reports errors already returned by Read
	}
	return nil
}

// chunkReader returns the payload of a data block's chunks: (length, bytes) pairs ending
// with a zero length.
type chunkReader struct {
	p       *posReader
	intSize int
	left    int64 // bytes left in the current chunk
	done    bool
}

func (c *chunkReader) next() error {
	start := c.p.pos
	n, err := c.p.archInt(c.intSize, "data chunk length")
	if err != nil {
		return err
	}
	if n == 0 {
		c.done = true
		return nil
	}
	if n < 0 || n > c.p.left() {
		return corruptf("offset %d: data chunk length %d (%d bytes left in the archive)", start, n, c.p.left())
	}
	c.left = n
	return nil
}

// empty reports whether the block has no chunks at all.
func (c *chunkReader) empty() (bool, error) {
	if c.left == 0 && !c.done {
		if err := c.next(); err != nil {
			return false, err
		}
	}
	return c.done, nil
}

func (c *chunkReader) Read(b []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.p.br.Read(b)
	c.p.pos += int64(n)
	c.left -= int64(n)
	if err != nil {
		return n, c.p.eofErr(err, "data chunk")
	}
	return n, nil
}

// inflateErrs marks zlib's complaints about its input as corruption.
type inflateErrs struct {
	r io.Reader
	p *posReader
}

func (z *inflateErrs) Read(b []byte) (int, error) {
	n, err := z.r.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		err = asCorrupt(err, z.p.pos, "compressed data")
	}
	return n, err
}

func asCorrupt(err error, pos int64, what string) error {
	var flateErr flate.CorruptInputError
	switch {
	case errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return corruptf("offset %d: %s ends early", pos, what)
	case errors.Is(err, zlib.ErrChecksum), errors.Is(err, zlib.ErrHeader), errors.Is(err, zlib.ErrDictionary), errors.As(err, &flateErr):
		return corruptf("near offset %d: %s: %v", pos, what, err)
	}
	return err
}

// locate finds the data block of dump id by scanning blocks from where the last scan
// stopped; offsets found on the way are remembered.
func (a *Archive) locate(id int) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if off, ok := a.scanned[id]; ok {
		return off, nil
	}
	if a.scanDone {
		return 0, corruptf("no data block for it in the archive")
	}
	p := newPosReader(a.ra, a.size, a.scanPos, readBufSize)
	for {
		if p.left() == 0 {
			a.scanDone = true
			return 0, corruptf("offset %d: the archive ends before its data block", p.pos)
		}
		start := p.pos
		bid, err := a.skipBlock(p)
		if err != nil {
			return 0, err
		}
		a.scanned[bid] = start
		a.scanPos = p.pos
		if bid == id {
			return start, nil
		}
	}
}

// skipBlock reads past one data or large-object block and returns its dump id.
func (a *Archive) skipBlock(p *posReader) (int, error) {
	start := p.pos
	typ, err := p.byte("data block type")
	if err != nil {
		return 0, err
	}
	id, err := p.archInt(a.IntSize, "data block dump id")
	if err != nil {
		return 0, err
	}
	if id <= 0 || id > 1<<31-1 {
		return 0, corruptf("offset %d: data block dump id %d out of range", start, id)
	}
	switch typ {
	case blockData:
		return int(id), a.skipChunks(p)
	case blockBlobs:
		for {
			oid, err := p.archInt(a.IntSize, "large object oid")
			if err != nil {
				return 0, err
			}
			if oid == 0 {
				return int(id), nil
			}
			if err := a.skipChunks(p); err != nil {
				return 0, err
			}
		}
	}
	return 0, corruptf("offset %d: unknown data block type %d", start, typ)
}

func (a *Archive) skipChunks(p *posReader) error {
	for {
		start := p.pos
		n, err := p.archInt(a.IntSize, "data chunk length")
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			return corruptf("offset %d: negative data chunk length %d", start, n)
		}
		if err := p.skip(n, "data chunk"); err != nil {
			return err
		}
	}
}
