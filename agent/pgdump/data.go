package pgdump

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
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
	name       string
	block      int64 // offset of the data block
	rows       *copyRows
	compressed *bufio.Reader // the chunks' bytes, for zlib
	zr         io.ReadCloser // nil when uncompressed or empty
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
	chunks := &chunkReader{p: p, intSize: a.IntSize}
	s := &dataStream{block: off, compressed: bufio.NewReaderSize(chunks, 64<<10)}
	var src io.Reader = chunks
	if a.Compression == "gzip" {
		empty, err := chunks.empty()
		if err != nil {
			return nil, err
		}
		if !empty {
			// zlib reads the buffered reader byte by byte through io.ByteReader.
			zr, err := zlib.NewReader(s.compressed)
			if err != nil {
				return nil, asCorrupt(err, off, "zlib header")
			}
			s.zr = zr
			src = &inflateErrs{r: zr, block: off}
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
		if _, err := s.compressed.ReadByte(); !errors.Is(err, io.EOF) {
			if err != nil {
				return err
			}
			return corruptf("data block at offset %d: bytes after the end of the compressed stream", s.block)
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
	r     io.Reader
	block int64 // offset of the data block
}

func (z *inflateErrs) Read(b []byte) (int, error) {
	n, err := z.r.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		err = asCorrupt(err, z.block, "compressed data")
	}
	return n, err
}

// asCorrupt wraps decompression errors in ErrCorrupt; block is the offset of the data
// block (or -1 for a gzip-compressed script).
func asCorrupt(err error, block int64, what string) error {
	var flateErr flate.CorruptInputError
	where := "gzip stream"
	if block >= 0 {
		where = fmt.Sprintf("data block at offset %d", block)
	}
	switch {
	case errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return corruptf("%s: %s ends early", where, what)
	case errors.Is(err, zlib.ErrChecksum), errors.Is(err, zlib.ErrHeader), errors.Is(err, zlib.ErrDictionary), errors.As(err, &flateErr):
		return corruptf("%s: %s: %v", where, what, err)
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
