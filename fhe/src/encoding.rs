//! Plaintexts beyond TFHE-rs' integers, and the tables that produce them.
//!
//! A block of the parameter set holds 4 bits plus a padding bit: the torus
//! is cut in 32 units of 2^59. TFHE-rs keeps values in the lower 16 units;
//! a bootstrap reads the upper 16 as the negation of the lower
//! (negacyclicity). Two encodings here use the rest of the torus:
//!
//! * **the padding flag**: a bit b encoded as 16·b units (2^63·b). Added to a
//!   value c in [0, 15] it leaves c in place when b = 0 and moves it to the
//!   negacyclic half when b = 1, so one bootstrap of `c + 16·b` returns
//!   g(c) or -g(c): a selection of a 4-bit value by a bit in one bootstrap.
//! * **half units**: g(c) = c/2 (2^58·c). With the stored half `c/2`,
//!   `bootstrap(c + 16·b) + c/2` is c when b = 0 and 0 when b = 1, exactly.
//!
//! Noise: the parameter set bounds a bootstrap's input by a 2-norm of 5
//! (TFHE-rs: "2-norm = 5"), the variance of 25 fresh ciphertexts; sums here
//! stay within [`VARIANCE_BUDGET`] and each says what it adds up. TFHE-rs' own bookkeeping (`NoiseLevel`, a
//! 1-norm) is stricter and is not consulted by the unchecked operations used.

use tfhe::shortint::ciphertext::Degree;
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::{Ciphertext, ServerKey};

/// One plaintext unit: 2^64 / 32.
pub const UNIT: u64 = 1 << 59;
/// The padding flag of a true bit: 16 units.
pub const FLAG: u64 = 1 << 63;
/// Most variance (in units of one fresh ciphertext) a sum fed to a bootstrap
/// carries here: 16, a 2-norm of 4, below the parameter set's 5 for margin
/// (the one exception is packing two blocks, 17: see `chunks::pack`).
pub const VARIANCE_BUDGET: usize = 16;

/// A table whose outputs are `f(x)` units divided by 2^`shift`.
fn scaled_down(sk: &ServerKey, f: impl Fn(u64) -> u64, shift: u32) -> LookupTableOwned {
    let mut lut = sk.generate_lookup_table(f);
    // Every entry is a multiple of 2^59 (or its negation): dividing the
    // signed value by 2 or 4 is exact.
    for c in lut.acc.get_mut_body().as_mut() {
        *c = ((*c as i64) >> shift) as u64;
    }
    lut.degree = Degree::new(15);
    lut
}

/// A table whose outputs are in half units: `twice(x)` is twice the output.
pub fn halves(sk: &ServerKey, twice: impl Fn(u64) -> u64) -> LookupTableOwned {
    scaled_down(sk, twice, 1)
}

/// `c/2` in half units, for c in [0, 15].
pub fn half_identity(sk: &ServerKey) -> LookupTableOwned {
    halves(sk, |x| x)
}

/// `c/4` in quarter units, for c in [0, 15].
pub fn quarter_identity(sk: &ServerKey) -> LookupTableOwned {
    scaled_down(sk, |x| x, 2)
}

/// The negations of ciphertexts.
pub fn negated(cts: &[Ciphertext]) -> Vec<Ciphertext> {
    cts.iter()
        .map(|c| {
            let mut n = c.clone();
            tfhe::core_crypto::algorithms::lwe_ciphertext_opposite_assign(&mut n.ct);
            n
        })
        .collect()
}

/// A table giving the padding flag of `test(x)`.
pub fn flag_of(sk: &ServerKey, test: impl Fn(u64) -> bool) -> LookupTableOwned {
    let mut lut = sk.generate_lookup_table(move |x| if test(x) { 16 } else { 0 });
    lut.degree = Degree::new(15);
    lut
}

/// Adds a constant (a torus value) to a ciphertext, trivial or not.
pub fn add_constant(ct: &mut Ciphertext, torus: u64) {
    let body = ct.ct.get_mut_body();
    *body.data = body.data.wrapping_add(torus);
}

/// The sum of ciphertexts (at least one), with the caller's bound on what it holds.
pub fn sum<'a>(sk: &ServerKey, terms: impl IntoIterator<Item = &'a Ciphertext>) -> Ciphertext {
    let mut terms = terms.into_iter();
    let mut total = terms.next().expect("a sum of at least one term").clone();
    for t in terms {
        sk.unchecked_add_assign(&mut total, t);
    }
    total
}

/// A padding flag (0 or 16 units) as an encrypted bit: one bootstrap of
/// g = -1/2 (so 16 units give +1/2), plus 1/2.
pub fn flag_to_bit(sk: &ServerKey, flag: &Ciphertext) -> Ciphertext {
    let mut bit = sk.apply_lookup_table(flag, &halves(sk, |_| 31));
    add_constant(&mut bit, UNIT / 2);
    bit.degree = Degree::new(1);
    bit
}

/// A padding flag with its noise reset: g = -8 units (so 16 gives +8),
/// plus 8.
pub fn clean_flag(sk: &ServerKey, flag: &Ciphertext) -> Ciphertext {
    let mut clean = sk.apply_lookup_table(flag, &sk.generate_lookup_table(|_| 24));
    add_constant(&mut clean, 8 * UNIT);
    clean.degree = Degree::new(15);
    clean
}
