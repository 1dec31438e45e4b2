//! The special functions are written three times: Rust (`kernels/src/real.rs`),
//! CUDA C (`kernels/src/math.cuh`) and WGSL (`kernels/src/math.wgsl`). The
//! CUDA C is checked against the Rust by running it on the CPU, where their
//! normals agree to the bit (kernels/tests/cuda_engine.rs). The GPUs may fuse
//! multiply-adds, so the WGSL engine is checked only to a tolerance, which
//! a mistyped coefficient can hide (one did, in both GPU sources). So here:
//! the WGSL functions carry the CUDA C ones' constants, in the same places.

const CUDA: &str = include_str!("../src/math.cuh");
const WGSL: &str = include_str!("../src/math.wgsl");

/// The body of the function whose header starts with `header`, braces
/// balanced.
fn body<'a>(src: &'a str, header: &str) -> &'a str {
    let start = src.find(header).unwrap_or_else(|| panic!("no `{header}`"));
    let open = start + src[start..].find('{').expect("a body");
    let mut depth = 0;
    for (i, c) in src[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &src[open..=open + i];
                }
            }
            _ => {}
        }
    }
    panic!("`{header}` never closes")
}

/// `src` without its line comments, nor, in the CUDA C, its
/// `RP_FAST_MATH` blocks (the chip's functions, which have no WGSL twin).
fn code_of(src: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in src.lines() {
        let line = line.split("//").next().unwrap_or("");
        let t = line.trim();
        if t == "#if RP_FAST_MATH" {
            skipping = true;
        } else if skipping && t == "#endif" {
            skipping = false;
        } else if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Each floating-point literal of `code` (one with a decimal point), as f32,
/// with the character before it (an operator, a bracket or a comma), so a
/// sign or an operator that differs shows too.
fn constants(code: &str) -> Vec<(char, f32)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len()
            && (b[j].is_ascii_alphanumeric()
                || b[j] == b'.'
                || ((b[j] == b'-' || b[j] == b'+') && matches!(b[j - 1], b'e' | b'E')))
        {
            j += 1;
        }
        let token = code[i..j].trim_end_matches('f');
        if token.contains('.') && !token.starts_with("0x") {
            let before = code[..i].trim_end().chars().last().unwrap_or(' ');
            let value: f32 = token.parse().unwrap_or_else(|e| panic!("`{token}`: {e}"));
            out.push((before, value));
        }
        i = j;
    }
    out
}

#[test]
fn the_wgsl_special_functions_carry_the_cuda_constants() {
    let cuda = code_of(CUDA);
    for (cuda_header, wgsl_header) in [
        ("float rp_exp(float", "fn rp_exp("),
        ("float rp_ln(float", "fn rp_ln("),
        ("void rp_sincos_turns(float", "fn rp_sincos_turns("),
    ] {
        let a = constants(body(&cuda, cuda_header));
        let b = constants(body(&code_of(WGSL), wgsl_header));
        assert!(
            a.len() >= 8,
            "{cuda_header}: only {} constants found",
            a.len()
        );
        assert_eq!(
            a, b,
            "{cuda_header} (CUDA C) and {wgsl_header} (WGSL) differ"
        );
    }
}

/// `code` with each cast `R(c)` of a constant written `c` (the CUDA C
/// writes its templates' constants so: a double rounded to the precision,
/// as the Rust's `from_f64`; WGSL's abstract literals round the same way).
fn without_casts(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(i) = rest.find("R(") {
        let cast = i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let close = rest[i + 2..].find(')').map(|j| i + 2 + j);
        match close {
            Some(j) if cast && !rest[i + 2..j].contains('(') => {
                out.push_str(&rest[..i]);
                out.push_str(&rest[i + 2..j]);
                rest = &rest[j + 1..];
            }
            _ => {
                out.push_str(&rest[..i + 2]);
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The inverse normal (Sobol points' normals) likewise.
#[test]
fn the_wgsl_inverse_normal_carries_the_cuda_constants() {
    let cuda = without_casts(&code_of(CUDA));
    let a = constants(body(&cuda, "R rp_inverse_normal_poly(R"));
    let b = constants(body(&code_of(WGSL), "fn rp_inverse_normal("));
    assert!(a.len() >= 20, "only {} constants found", a.len());
    assert_eq!(
        a, b,
        "rp_inverse_normal_poly (CUDA C) and rp_inverse_normal (WGSL) differ"
    );
}

#[test]
fn a_mistyped_coefficient_is_caught() {
    // The very mistake this test exists for: Cephes' 2.0000714765e-1 as
    // 2.0007147650e-1.
    let wrong = WGSL.replace("2.0000714765e-1", "2.0007147650e-1");
    assert_ne!(wrong, WGSL, "the coefficient is no longer in the WGSL");
    let cuda = code_of(CUDA);
    assert_ne!(
        constants(body(&cuda, "float rp_ln(float")),
        constants(body(&code_of(&wrong), "fn rp_ln("))
    );
}
