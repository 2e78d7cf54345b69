//! The TFHE parameter set of every store, and the shapes derived from it.
//!
//! `V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128`: 2 message bits and
//! 2 carry bits per block, the keyswitch-32 atomic pattern, TUniform noise,
//! 128-bit security with a bootstrapping failure probability of at most
//! 2^-128 (TFHE-rs' own estimate for this set). Measured 10-15 % faster here
//! than the default `PARAM_MESSAGE_2_CARRY_2_KS_PBS` (see docs/fhe.md).
//! One set for all stores keeps the wire format free of parameter choices a
//! client could get wrong.

use tfhe::integer::parameters::RadixCiphertextConformanceParams;
use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;
use tfhe::shortint::parameters::KeySwitch32PBSParameters;
use tfhe::shortint::AtomicPatternParameters;

pub const PARAMS: KeySwitch32PBSParameters = V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;

/// Its name, for docs/fhe.md and `pseudo_fhe_stores()`.
pub const PARAMS_NAME: &str = "PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128 (TFHE-rs 1.8.2)";

/// Message bits per radix block.
pub const BITS_PER_BLOCK: usize = 2;

/// Key and value widths a store accepts: even, 2 to 64 bits.
pub const MIN_BITS: usize = 2;
pub const MAX_BITS: usize = 64;

/// Blocks of a radix ciphertext of `bits` bits.
pub fn blocks_for(bits: usize) -> usize {
    bits.div_ceil(BITS_PER_BLOCK)
}

pub fn bits_supported(bits: usize) -> bool {
    (MIN_BITS..=MAX_BITS).contains(&bits) && bits.is_multiple_of(BITS_PER_BLOCK)
}

pub fn atomic_pattern() -> AtomicPatternParameters {
    PARAMS.into()
}

/// What a freshly encrypted radix ciphertext of `bits` bits looks like.
pub fn fresh_radix(bits: usize) -> RadixCiphertextConformanceParams {
    RadixCiphertextConformanceParams {
        shortint_params: PARAMS.to_shortint_conformance_param(),
        num_blocks_per_integer: blocks_for(bits),
    }
}
