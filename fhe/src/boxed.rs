//! A SET's key and value as **boxed accumulators**: one GLWE ciphertext the
//! client encrypts, whose polynomial holds one constant per chunk, each over
//! a box of the coefficients a bootstrap reads.
//!
//! A bootstrap rotates its accumulator by the phase of its input and reads
//! coefficients. TFHE-rs' accumulators are clear tables; the rotation is just
//! as correct on an encrypted one. Rotated by a padding flag (0 or 16 units:
//! 0 or N coefficients, negacyclic), an accumulator of constants a_k comes
//! out as (-1)^flag · a_k for every k at once: one blind rotation selects
//! all the chunks of a key or value by a slot's flag, where a bootstrap per
//! chunk did before. The chunks sit at the extraction points k · B (B = N/16,
//! the box of one plaintext unit) and fill ±B/2 around them, so a rotation
//! that drifts by less than half a box, as every bootstrap's does, reads
//! the same constant.
//!
//! Noise: an extracted coefficient carries the blind rotation's noise (one
//! fresh bootstrap output) plus the client's encryption noise, which is
//! orders of magnitude smaller; read without a rotation it carries only the
//! latter.

use tfhe::core_crypto::prelude::*;
use tfhe::shortint::ciphertext::{Degree, MaxDegree, NoiseLevel};
use tfhe::shortint::server_key::ManyLookupTableOwned;
use tfhe::shortint::{Ciphertext, ServerKey as ShortKey};

use crate::encoding;

/// Coefficients of the accumulator polynomial (the parameter set's N).
pub fn polynomial_size() -> usize {
    crate::params::PARAMS.polynomial_size.0
}

/// Chunks one accumulator holds: one per box.
pub fn max_chunks() -> usize {
    16
}

fn box_size() -> usize {
    polynomial_size() / max_chunks()
}

/// The plaintext polynomial of an accumulator of `constants` (torus values):
/// constant k over the coefficients k·B - B/2 .. k·B + B/2, the part below 0
/// wrapped to the top of the polynomial and negated (negacyclic).
pub fn layout(constants: &[u64]) -> Vec<u64> {
    assert!(constants.len() <= max_chunks(), "at most {} chunks", max_chunks());
    let n = polynomial_size();
    let (b, half) = (box_size() as isize, box_size() as isize / 2);
    let mut poly = vec![0u64; n];
    for (k, &a) in constants.iter().enumerate() {
        for i in (k as isize * b - half)..(k as isize * b + half) {
            if i < 0 {
                poly[(n as isize + i) as usize] = a.wrapping_neg();
            } else {
                poly[i as usize] = a;
            }
        }
    }
    poly
}

/// A client's boxed accumulator of `chunks` constants.
pub struct Boxed {
    pub glwe: GlweCiphertextOwned<u64>,
    pub chunks: usize,
}

/// A shortint ciphertext of the parameter set around an LWE ciphertext read
/// from an accumulator (a value in [0, 15] units, nominal noise).
fn wrap(sk: &ShortKey, lwe: LweCiphertextOwned<u64>) -> Ciphertext {
    let mut ct = sk.create_trivial(0);
    ct.ct = lwe;
    ct.degree = Degree::new(15);
    ct.set_noise_level(NoiseLevel::NOMINAL, sk.max_noise_level);
    ct
}

impl Boxed {
    /// The constants as they are: a_k for every chunk, with only the client's
    /// encryption noise (no rotation).
    pub fn constants(&self, sk: &ShortKey) -> Vec<Ciphertext> {
        let size = self.glwe.glwe_size().to_glwe_dimension().to_equivalent_lwe_dimension(self.glwe.polynomial_size());
        (0..self.chunks)
            .map(|k| {
                let mut lwe = LweCiphertext::new(0u64, size.to_lwe_size(), self.glwe.ciphertext_modulus());
                extract_lwe_sample_from_glwe_ciphertext(&self.glwe, &mut lwe, MonomialDegree(k * box_size()));
                wrap(sk, lwe)
            })
            .collect()
    }

    /// (-1)^flag · a_k for every chunk, `flag` a padding flag: one keyswitch
    /// and one blind rotation for all of them.
    pub fn rotate_by_flag(&self, sk: &ShortKey, flag: &Ciphertext) -> Vec<Ciphertext> {
        if flag.is_trivial() {
            // A public flag (never the case for a flag computed from a
            // query): the sign is known, TFHE-rs would read the encrypted
            // accumulator as a clear table.
            let body = *flag.ct.get_body().data;
            let negate = body.wrapping_add(encoding::FLAG / 2) >= encoding::FLAG;
            return self
                .constants(sk)
                .into_iter()
                .map(|mut c| {
                    if negate {
                        lwe_ciphertext_opposite_assign(&mut c.ct);
                    }
                    c
                })
                .collect();
        }
        let table = ManyLookupTableOwned {
            acc: self.glwe.clone(),
            input_max_degree: MaxDegree::new(15),
            sample_extraction_stride: box_size(),
            per_function_output_degree: vec![Degree::new(15); self.chunks],
        };
        sk.apply_many_lookup_table(flag, &table)
    }
}
