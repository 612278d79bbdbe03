//! The token embedding table kept in the file's own (block-quantized) type, rows
//! dequantized as they are looked up.
//!
//! A model reads a few hundred rows of its 49,152 per forward pass, so holding the whole
//! table in f32 (113 MB for SmolLM2-135M) buys nothing. Dequantizing works block by
//! block, so a row read from the quantized table is bit for bit the row of the table
//! dequantized whole.

use candle_core::quantized::{GgmlDType, QTensor, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Result, Tensor};

/// A `(vocab, hidden)` embedding table in a GGML type.
pub struct TokenTable {
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    /// The raw blocks, in 8-byte words so every block type's fields are aligned.
    words: Vec<u64>,
}

impl TokenTable {
    /// The table `q` as it is stored; `None` when a row does not end on a block boundary
    /// (rows could then not be read one at a time).
    pub fn from_qtensor(q: &QTensor) -> Result<Option<Self>> {
        let (rows, cols) = q.shape().dims2()?;
        let dtype = q.dtype();
        if !cols.is_multiple_of(dtype.block_size()) {
            return Ok(None);
        }
        let row_bytes = cols / dtype.block_size() * dtype.type_size();
        let data = q.data()?;
        if data.len() != rows * row_bytes {
            candle_core::bail!(
                "the embedding table holds {} bytes, not {rows} rows of {row_bytes}",
                data.len()
            );
        }
        let mut words = vec![0u64; data.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..data.len()].copy_from_slice(&data);
        Ok(Some(Self {
            dtype,
            rows,
            cols,
            row_bytes,
            words,
        }))
    }

    /// Rows (vocabulary size).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes the table holds.
    pub fn size_in_bytes(&self) -> usize {
        self.rows * self.row_bytes
    }

    /// The rows of `ids` in f32, `(ids.len(), hidden)`; an error for an id outside the
    /// vocabulary.
    pub fn lookup(&self, ids: &[u32]) -> Result<Tensor> {
        let dev = Device::Cpu;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.rows) {
            candle_core::bail!("token id {bad} is outside a vocabulary of {}", self.rows);
        }
        if ids.is_empty() {
            return Tensor::zeros((0, self.cols), candle_core::DType::F32, &dev);
        }
        let n = ids.len() * self.row_bytes;
        let all: &[u8] = bytemuck::cast_slice(&self.words);
        let mut buf = vec![0u64; n.div_ceil(8)];
        let out = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut buf)[..n];
        for (dst, &id) in out.chunks_exact_mut(self.row_bytes).zip(ids) {
            let start = id as usize * self.row_bytes;
            dst.copy_from_slice(&all[start..start + self.row_bytes]);
        }
        qtensor_from_ggml(self.dtype, out, vec![ids.len(), self.cols], &dev)?.dequantize(&dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dtype: GgmlDType, rows: usize, cols: usize) -> (QTensor, Tensor) {
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 2.0)
            .collect();
        let t = Tensor::from_vec(v, (rows, cols), &Device::Cpu).expect("tensor");
        let q = QTensor::quantize(&t, dtype).expect("quantize");
        let dense = q.dequantize(&Device::Cpu).expect("dequantize");
        (q, dense)
    }

    #[test]
    fn rows_equal_the_whole_table_dequantized_bit_for_bit() {
        for dtype in [
            GgmlDType::Q4_1,
            GgmlDType::Q8_0,
            GgmlDType::Q4_0,
            GgmlDType::F16,
        ] {
            let (q, dense) = table(dtype, 40, 96);
            let t = TokenTable::from_qtensor(&q)
                .expect("table")
                .expect("aligned");
            assert!(t.size_in_bytes() < 40 * 96 * 4 || dtype == GgmlDType::F32);
            let ids = [3u32, 0, 39, 3, 17];
            let got = t
                .lookup(&ids)
                .expect("lookup")
                .to_vec2::<f32>()
                .expect("rows");
            let idx = Tensor::new(&ids[..], &Device::Cpu).expect("ids");
            let want = dense.index_select(&idx, 0).expect("select");
            let want = want.to_vec2::<f32>().expect("rows");
            let bits = |m: &Vec<Vec<f32>>| -> Vec<u32> {
                m.iter().flatten().map(|x| x.to_bits()).collect()
            };
            assert_eq!(bits(&got), bits(&want), "{dtype:?}");
        }
    }

    #[test]
    fn an_id_outside_the_vocabulary_is_an_error_and_no_ids_no_rows() {
        let (q, _) = table(GgmlDType::Q8_0, 8, 64);
        let t = TokenTable::from_qtensor(&q)
            .expect("table")
            .expect("aligned");
        assert!(t.lookup(&[8]).is_err());
        assert_eq!(t.lookup(&[]).expect("empty").dims(), &[0, 64]);
    }
}
