package arrowstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Batches read from stored bytes are checked before a caller sees them:
// arrow-go builds arrays from IPC buffers without checking that the
// buffers are as long as the arrays' lengths need, or that offsets stay
// inside their data, and reading such an array panics. validateRecord
// checks what reading a value relies on, for every type arrow-go
// reads from IPC, in time linear in the batch's rows (offsets and
// dictionary indexes are read once; values are not).

// maxNesting bounds how deep nested types may go, as arrow-go's IPC reader
// bounds it.
const maxNesting = 64

// validateRecord checks every column of rec. It never panics.
func validateRecord(rec arrow.RecordBatch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid batch: %v", p)
		}
	}()
	rows := rec.NumRows()
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rows {
			return fmt.Errorf("column %d has %d rows, the batch %d", i, col.Len(), rows)
		}
		if err := validateData(col.Data(), col.DataType(), 0); err != nil {
			return fmt.Errorf("column %d (%s): %w", i, rec.Schema().Field(i).Name, err)
		}
	}
	return nil
}

func bufLen(bufs []*memory.Buffer, i int) int {
	if i >= len(bufs) || bufs[i] == nil {
		return 0
	}
	return bufs[i].Len()
}

func bufBytes(bufs []*memory.Buffer, i int) []byte {
	if i >= len(bufs) || bufs[i] == nil {
		return nil
	}
	return bufs[i].Bytes()
}

// validateData checks d, an array of type dt (dt is d's type, or the
// storage type of d's extension type).
func validateData(d arrow.ArrayData, dt arrow.DataType, depth int) error {
	if depth > maxNesting {
		return errors.New("nested too deep")
	}
	n, off := d.Len(), d.Offset()
	if n < 0 || off < 0 || off > math.MaxInt32-n {
		return fmt.Errorf("length %d at offset %d", n, off)
	}
	end := off + n
	bufs := d.Buffers()
	if ext, ok := dt.(arrow.ExtensionType); ok {
		return validateData(d, ext.StorageType(), depth+1)
	}
	if dt.ID() != arrow.NULL && dt.ID() != arrow.SPARSE_UNION && dt.ID() != arrow.DENSE_UNION && dt.ID() != arrow.RUN_END_ENCODED {
		// arrow-go reads a validity bitmap whenever one is there.
		if l := int64(bufLen(bufs, 0)); l > 0 && l < bitutil.BytesForBits(int64(end)) {
			return fmt.Errorf("validity bitmap of %d bytes for %d rows", l, end)
		}
	}
	need := func(i int, bytes int64, what string) error {
		if n == 0 {
			return nil
		}
		if l := bufLen(bufs, i); int64(l) < bytes {
			return fmt.Errorf("%s buffer of %d bytes, %d needed", what, l, bytes)
		}
		return nil
	}
	switch dt := dt.(type) {
	case *arrow.NullType:
		return nil
	case *arrow.BooleanType:
		return need(1, bitutil.BytesForBits(int64(end)), "values")
	case *arrow.BinaryType, *arrow.StringType:
		return checkOffsets32(d, bufs, 1, int64(bufLen(bufs, 2)))
	case *arrow.LargeBinaryType, *arrow.LargeStringType:
		return checkOffsets64(d, bufs, 1, int64(bufLen(bufs, 2)))
	case *arrow.BinaryViewType, *arrow.StringViewType:
		if err := need(1, int64(end)*int64(arrow.ViewHeaderSizeBytes), "views"); err != nil {
			return err
		}
		return validateFull(d)
	case *arrow.ListType, *arrow.MapType:
		child, err := onlyChild(d)
		if err != nil {
			return err
		}
		if err := checkOffsets32(d, bufs, 1, int64(child.Len())); err != nil {
			return err
		}
		return validateData(child, child.DataType(), depth+1)
	case *arrow.LargeListType:
		child, err := onlyChild(d)
		if err != nil {
			return err
		}
		if err := checkOffsets64(d, bufs, 1, int64(child.Len())); err != nil {
			return err
		}
		return validateData(child, child.DataType(), depth+1)
	case *arrow.ListViewType, *arrow.LargeListViewType:
		child, err := onlyChild(d)
		if err != nil {
			return err
		}
		w := int64(4)
		if dt.ID() == arrow.LARGE_LIST_VIEW {
			w = 8
		}
		if err := need(1, int64(end)*w, "offsets"); err != nil {
			return err
		}
		if err := need(2, int64(end)*w, "sizes"); err != nil {
			return err
		}
		if err := validateData(child, child.DataType(), depth+1); err != nil {
			return err
		}
		return validateFull(d)
	case *arrow.FixedSizeListType:
		child, err := onlyChild(d)
		if err != nil {
			return err
		}
		if size := int64(dt.Len()); size < 0 || int64(child.Len()) < int64(end)*size {
			return fmt.Errorf("fixed-size list of %d values per row over %d values", dt.Len(), child.Len())
		}
		return validateData(child, child.DataType(), depth+1)
	case *arrow.StructType:
		children := d.Children()
		if len(children) != dt.NumFields() {
			return fmt.Errorf("struct of %d fields with %d children", dt.NumFields(), len(children))
		}
		for i, c := range children {
			if c.Len() < end {
				return fmt.Errorf("struct field %d has %d rows, %d needed", i, c.Len(), end)
			}
			if err := validateData(c, c.DataType(), depth+1); err != nil {
				return fmt.Errorf("struct field %d: %w", i, err)
			}
		}
		return nil
	case *arrow.DictionaryType:
		return validateDictionary(d, dt, bufs, depth)
	case *arrow.RunEndEncodedType:
		children := d.Children()
		if len(children) != 2 {
			return fmt.Errorf("run-end encoded array with %d children", len(children))
		}
		for _, c := range children {
			if err := validateData(c, c.DataType(), depth+1); err != nil {
				return err
			}
		}
		return validateFull(d)
	case arrow.UnionType:
		children := d.Children()
		if len(children) != len(dt.Fields()) {
			return fmt.Errorf("union of %d fields with %d children", len(dt.Fields()), len(children))
		}
		if err := need(1, int64(end), "type ids"); err != nil {
			return err
		}
		if dt.Mode() == arrow.DenseMode {
			if err := need(2, int64(end)*4, "offsets"); err != nil {
				return err
			}
		}
		for _, c := range children {
			if err := validateData(c, c.DataType(), depth+1); err != nil {
				return err
			}
		}
		return validateFull(d)
	case arrow.FixedWidthDataType:
		bits := int64(dt.BitWidth())
		if bits <= 0 || bits%8 != 0 {
			return fmt.Errorf("type %s of %d bits", dt, bits)
		}
		return need(1, int64(end)*(bits/8), "values")
	}
	return fmt.Errorf("type %s cannot be read", dt)
}

// validateFull runs arrow-go's own full validation of d's array, for the
// types whose invariants it checks (views, list views, run ends, unions).
func validateFull(d arrow.ArrayData) error {
	arr := array.MakeFromData(d)
	defer arr.Release()
	if v, ok := arr.(interface{ ValidateFull() error }); ok {
		return v.ValidateFull()
	}
	return nil
}

// dictionaryOf returns the dictionary of d, or nil (not a nil *array.Data
// in an interface) if it has none.
func dictionaryOf(d arrow.ArrayData) arrow.ArrayData {
	dict := d.Dictionary()
	if dd, ok := dict.(*array.Data); dict == nil || (ok && dd == nil) {
		return nil
	}
	return dict
}

func onlyChild(d arrow.ArrayData) (arrow.ArrayData, error) {
	children := d.Children()
	if len(children) != 1 {
		return nil, fmt.Errorf("list-like array with %d children", len(children))
	}
	return children[0], nil
}

// checkOffsets32 checks the int32 offsets in buffer i of d: enough of them,
// never decreasing, and inside [0, limit].
func checkOffsets32(d arrow.ArrayData, bufs []*memory.Buffer, i int, limit int64) error {
	n, off := d.Len(), d.Offset()
	if n == 0 {
		return nil
	}
	b := bufBytes(bufs, i)
	if len(b) < (off+n+1)*4 {
		return fmt.Errorf("offsets buffer of %d bytes for %d rows", len(b), off+n)
	}
	b = b[off*4 : (off+n+1)*4]
	prev := int64(int32(binary.LittleEndian.Uint32(b)))
	if prev < 0 {
		return fmt.Errorf("negative offset %d", prev)
	}
	for j := 4; j < len(b); j += 4 {
		o := int64(int32(binary.LittleEndian.Uint32(b[j:])))
		if o < prev {
			return fmt.Errorf("offset %d after offset %d", o, prev)
		}
		prev = o
	}
	if prev > limit {
		return fmt.Errorf("offset %d past the end of %d values", prev, limit)
	}
	return nil
}

// checkOffsets64 is checkOffsets32 for int64 offsets.
func checkOffsets64(d arrow.ArrayData, bufs []*memory.Buffer, i int, limit int64) error {
	n, off := d.Len(), d.Offset()
	if n == 0 {
		return nil
	}
	b := bufBytes(bufs, i)
	if len(b) < (off+n+1)*8 {
		return fmt.Errorf("offsets buffer of %d bytes for %d rows", len(b), off+n)
	}
	b = b[off*8 : (off+n+1)*8]
	prev := int64(binary.LittleEndian.Uint64(b))
	if prev < 0 {
		return fmt.Errorf("negative offset %d", prev)
	}
	for j := 8; j < len(b); j += 8 {
		o := int64(binary.LittleEndian.Uint64(b[j:]))
		if o < prev {
			return fmt.Errorf("offset %d after offset %d", o, prev)
		}
		prev = o
	}
	if prev > limit {
		return fmt.Errorf("offset %d past the end of %d values", prev, limit)
	}
	return nil
}

// validateDictionary checks the indexes of a dictionary array (each valid
// one inside the dictionary) and the dictionary itself.
func validateDictionary(d arrow.ArrayData, dt *arrow.DictionaryType, bufs []*memory.Buffer, depth int) error {
	dict := dictionaryOf(d)
	if dict == nil {
		return errors.New("dictionary array without a dictionary")
	}
	if err := validateData(dict, dict.DataType(), depth+1); err != nil {
		return fmt.Errorf("dictionary: %w", err)
	}
	iw, ok := dt.IndexType.(arrow.FixedWidthDataType)
	if !ok || !arrow.IsInteger(dt.IndexType.ID()) {
		return fmt.Errorf("dictionary index type %s", dt.IndexType)
	}
	w := iw.BitWidth() / 8
	n, off := d.Len(), d.Offset()
	if n == 0 {
		return nil
	}
	b := bufBytes(bufs, 1)
	if len(b) < (off+n)*w {
		return fmt.Errorf("indexes buffer of %d bytes for %d rows", len(b), off+n)
	}
	valid := bufBytes(bufs, 0)
	size := uint64(dict.Len())
	signed := arrow.IsSignedInteger(dt.IndexType.ID())
	for j := off; j < off+n; j++ {
		if len(valid) > 0 && !bitutil.BitIsSet(valid, j) {
			continue
		}
		var v uint64
		switch w {
		case 1:
			v = uint64(b[j])
			if signed {
				v = uint64(int64(int8(b[j])))
			}
		case 2:
			v = uint64(binary.LittleEndian.Uint16(b[2*j:]))
			if signed {
				v = uint64(int64(int16(v)))
			}
		case 4:
			v = uint64(binary.LittleEndian.Uint32(b[4*j:]))
			if signed {
				v = uint64(int64(int32(v)))
			}
		default:
			v = binary.LittleEndian.Uint64(b[8*j:])
		}
		if v >= size { // a negative signed index is a huge unsigned one
			return fmt.Errorf("dictionary index %d out of %d values", int64(v), size)
		}
	}
	return nil
}
