package pgdump

import (
	"bufio"
	"fmt"
	"io"

	"github.com/klauspost/compress/zlib"
)

// LargeObjects calls each with the oid and the contents of every large object of a BLOBS
// entry, in archive order; the contents are decompressed and valid until each returns (what
// it leaves unread is skipped). Errors wrap ErrCorrupt for damaged data.
func (a *Archive) LargeObjects(e Entry, each func(oid uint32, data io.Reader) error) error {
	if e.Desc != "BLOBS" || !e.HasData {
		return fmt.Errorf("entry %d %s: %w", e.DumpID, e.Desc, ErrNoData)
	}
	off := e.DataOffset
	if off == 0 {
		var err error
		if off, err = a.locate(e.DumpID); err != nil {
			return fmt.Errorf("entry %d BLOBS: %w", e.DumpID, err)
		}
	}
	p := newPosReader(a.ra, a.size, off, readBufSize)
	typ, err := p.byte("large objects block type")
	if err != nil {
		return err
	}
	id, err := p.archInt(a.IntSize, "large objects block dump id")
	if err != nil {
		return err
	}
	if typ != blockBlobs || id != int64(e.DumpID) {
		return corruptf("offset %d: want a large objects block (type 3) of entry %d, found type %d of entry %d", off, e.DumpID, typ, id)
	}
	for {
		start := p.pos
		oid, err := p.archInt(a.IntSize, "large object oid")
		if err != nil {
			return err
		}
		if oid == 0 {
			return nil
		}
		if oid < 0 || oid > 1<<32-1 {
			return corruptf("offset %d: large object oid %d out of range", start, oid)
		}
		if err := a.largeObject(p, uint32(oid), each); err != nil {
			return err
		}
	}
}

// largeObject hands one large object's chunks, decompressed, to each, and reads past them.
func (a *Archive) largeObject(p *posReader, oid uint32, each func(uint32, io.Reader) error) error {
	chunks := &chunkReader{p: p, intSize: a.IntSize}
	var data io.Reader = chunks
	where := p.pos
	if a.Compression == "gzip" {
		empty, err := chunks.empty()
		if err != nil {
			return err
		}
		if !empty {
			zr, err := zlib.NewReader(bufio.NewReader(chunks))
			if err != nil {
				return asCorrupt(err, where, "large object zlib header")
			}
			defer zr.Close()
			data = &inflateErrs{r: zr, block: where}
		}
	}
	if err := each(oid, data); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, data); err != nil {
		return err
	}
	// The compressed stream may end before its chunks do: read up to their end marker.
	_, err := io.Copy(io.Discard, chunks)
	return err
}
