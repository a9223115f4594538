//! Plain element loops compiled for the widest vector instructions the CPU has.

/// Whether the CPU has the AVX-512 subsets the wide variants are compiled for.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512dq") && is_x86_feature_detected!("avx512vl")
}

/// `fn name(args) = generic;` defines `name`, which runs `generic` (an `#[inline(always)]`
/// function of the same arguments) compiled for AVX-512 (16 f32 lanes) where the CPU has it,
/// else AVX2 (8), else the baseline's SSE2 (4): its element loops vectorize at that width.
/// Lane-wise arithmetic gives the same results at every width (Rust fuses no multiply-adds).
macro_rules! widest {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) = $generic:ident;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
                fn avx512($($arg: $ty),*) {
                    $generic($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    $generic($($arg),*)
                }
                if $crate::ops::vector::has_avx512() {
                    // SAFETY: the CPU has these instructions.
                    return unsafe { avx512($($arg),*) };
                }
                if is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}
pub(crate) use widest;
