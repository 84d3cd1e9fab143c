//! The compression codecs of record batches (Kafka's `CompressionType`):
//! streaming readers over a batch's compressed records section, for the
//! produce-time validation walk and the look-ups by time, and the codec
//! names the configs use. Re-encoding a whole batch (another codec, or
//! offsets that must be rewritten) is in [`crate::log::validate`].
//!
//! Every reader works on untrusted bytes and streams: a record section that
//! expands a thousandfold is walked with a fixed buffer, never held whole.
//! Formats, as Kafka's clients write them: gzip (RFC 1952, possibly several
//! members), snappy in xerial's framing (a magic header, then
//! length-prefixed raw snappy blocks; plain raw snappy without the header is
//! accepted, as Kafka's `SnappyInputStream` does), LZ4 frames, and zstd frames.

use std::io::{self, Read};

use crate::log::batch::CompressionCodec;

/// The xerial snappy stream header: magic, version 1, compatible version 1.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
/// The uncompressed block size snappy-java writes.
const XERIAL_BLOCK_LEN: usize = 32 * 1024;
/// The most a raw snappy block can expand: a 3-byte copy element yields 64.
const SNAPPY_MAX_EXPANSION: usize = 22;

impl CompressionCodec {
    /// Kafka's name of the codec, as `compression.type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            CompressionCodec::None => "none",
            CompressionCodec::Gzip => "gzip",
            CompressionCodec::Snappy => "snappy",
            CompressionCodec::Lz4 => "lz4",
            CompressionCodec::Zstd => "zstd",
            CompressionCodec::Unknown(_) => "unknown",
        }
    }

    /// The codec's id in a batch's attributes.
    pub fn id(self) -> u8 {
        match self {
            CompressionCodec::None => 0,
            CompressionCodec::Gzip => 1,
            CompressionCodec::Snappy => 2,
            CompressionCodec::Lz4 => 3,
            CompressionCodec::Zstd => 4,
            CompressionCodec::Unknown(id) => id,
        }
    }
}

/// A reader of the uncompressed records of a batch whose records section
/// (the bytes after the fixed header) is `data`, compressed with `codec`.
/// `None` for an unknown codec.
pub fn decompressing_reader<'a>(
    codec: CompressionCodec,
    data: &'a [u8],
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        CompressionCodec::None => Box::new(data),
        CompressionCodec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        CompressionCodec::Snappy => Box::new(SnappyReader::new(data)),
        CompressionCodec::Lz4 => Box::new(lz4::Decoder::new(data)?),
        CompressionCodec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(data)?),
        CompressionCodec::Unknown(id) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown compression codec id {id}"),
            ));
        }
    })
}

/// Compresses an uncompressed records section with `codec`, as Kafka's
/// broker does when a topic's `compression.type` names another codec than
/// the producer's. Levels are Kafka's defaults (gzip 6, zstd 3); LZ4 uses
/// independent blocks, which every Kafka client reads.
pub fn compress(codec: CompressionCodec, data: &[u8]) -> io::Result<Vec<u8>> {
    use std::io::Write;
    match codec {
        CompressionCodec::None => Ok(data.to_vec()),
        CompressionCodec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(data)?;
            e.finish()
        }
        CompressionCodec::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
            let mut encoder = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK_LEN) {
                let block = encoder
                    .compress_vec(chunk)
                    .map_err(|e| invalid(&e.to_string()))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        CompressionCodec::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())?;
            e.write_all(data)?;
            let (out, result) = e.finish();
            result.map(|()| out)
        }
        CompressionCodec::Zstd => zstd::encode_all(data, 3),
        CompressionCodec::Unknown(id) => {
            Err(invalid(&format!("unknown compression codec id {id}")))
        }
    }
}

/// Snappy as Kafka's clients write it: xerial's framing, or one raw block.
struct SnappyReader<'a> {
    input: &'a [u8],
    /// The current decompressed block and how much of it was read.
    block: Vec<u8>,
    pos: usize,
    framed: bool,
    raw_done: bool,
}

impl<'a> SnappyReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        let framed = input.len() >= XERIAL_HEADER_LEN && input.starts_with(XERIAL_MAGIC);
        SnappyReader {
            input: if framed {
                &input[XERIAL_HEADER_LEN..]
            } else {
                input
            },
            block: Vec::new(),
            pos: 0,
            framed,
            raw_done: false,
        }
    }

    /// Decompresses the next block; false at the end of the input.
    fn next_block(&mut self) -> io::Result<bool> {
        let compressed = if self.framed {
            if self.input.is_empty() {
                return Ok(false);
            }
            if self.input.len() < 4 {
                return Err(invalid("snappy block length cut short"));
            }
            let len =
                u32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]])
                    as usize;
            let rest = &self.input[4..];
            if len > rest.len() {
                return Err(invalid("snappy block runs past the batch"));
            }
            let (block, after) = rest.split_at(len);
            self.input = after;
            block
        } else {
            if self.raw_done {
                return Ok(false);
            }
            self.raw_done = true;
            self.input
        };
        let len = snap::raw::decompress_len(compressed).map_err(|e| invalid(&e.to_string()))?;
        // The header is a claim, not a size to allocate: no snappy element
        // yields more than 64 bytes for 3 of input, so a longer claim is a
        // corrupt (or hostile) block, not a reason to reserve gigabytes.
        if len > compressed.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
            return Err(invalid(&format!(
                "snappy block claims {len} bytes from {} compressed",
                compressed.len()
            )));
        }
        self.block.resize(len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(|e| invalid(&e.to_string()))?;
        self.block.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(codec: CompressionCodec, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decompressing_reader(codec, data)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn every_codec_round_trips_through_the_crates_kafka_clients_use() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &plain).unwrap();
        assert_eq!(
            read_all(CompressionCodec::Gzip, &gz.finish().unwrap()),
            plain
        );

        let mut lz = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        std::io::Write::write_all(&mut lz, &plain).unwrap();
        let (lz, result) = lz.finish();
        result.unwrap();
        assert_eq!(read_all(CompressionCodec::Lz4, &lz), plain);

        let zs = zstd::encode_all(&plain[..], 1).unwrap();
        assert_eq!(read_all(CompressionCodec::Zstd, &zs), plain);

        let raw = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        assert_eq!(read_all(CompressionCodec::Snappy, &raw), plain);
        for codec in [
            CompressionCodec::None,
            CompressionCodec::Gzip,
            CompressionCodec::Snappy,
            CompressionCodec::Lz4,
            CompressionCodec::Zstd,
        ] {
            let packed = compress(codec, &plain).unwrap();
            assert_eq!(read_all(codec, &packed), plain, "{codec:?}");
        }
        let framed = compress(CompressionCodec::Snappy, &plain).unwrap();
        assert!(
            framed.starts_with(XERIAL_MAGIC),
            "xerial framing, as snappy-java writes"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for codec in [
            CompressionCodec::Gzip,
            CompressionCodec::Snappy,
            CompressionCodec::Lz4,
            CompressionCodec::Zstd,
        ] {
            let result = decompressing_reader(codec, &junk).and_then(|mut r| {
                let mut out = Vec::new();
                r.read_to_end(&mut out).map(|_| out)
            });
            assert!(result.is_err(), "{codec:?}");
        }
        assert!(decompressing_reader(CompressionCodec::Unknown(6), &junk).is_err());
    }

    #[test]
    fn a_snappy_block_claiming_gigabytes_is_refused_before_allocating() {
        // A xerial frame whose one block says (varint) it expands to 4 GiB - 1.
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        let block = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x41];
        framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        framed.extend_from_slice(&block);
        let mut out = Vec::new();
        let err = decompressing_reader(CompressionCodec::Snappy, &framed)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("claims"), "{err}");

        // The densest real block still decodes: 64 KiB of one byte.
        let plain = vec![7u8; 64 * 1024];
        let raw = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        assert_eq!(read_all(CompressionCodec::Snappy, &raw), plain);
    }
}
