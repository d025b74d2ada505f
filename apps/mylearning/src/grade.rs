//! Quiz grading: the CPU-heavy part of MyLearning, so that load turns into real CPU use and the
//! auto scaling group has something to scale on.
//!
//! `work` units of iterated hashing (SHA-2-style mixing rounds, std only) are burnt per request:
//! about 1 ms of CPU per unit in an optimised build (several times that unoptimised). The result
//! is folded into the checksum returned to the client, so the compiler cannot drop the work, and
//! it is deterministic: the same answers and work give the same checksum on every instance.

use serde::Deserialize;

/// The correct choice for each question of the quiz, in order.
pub const ANSWER_KEY: [u32; 10] = [1, 0, 3, 2, 2, 1, 0, 3, 1, 2];

/// The most work one request may ask for.
pub const MAX_WORK: u32 = 1000;

/// Mixing rounds per unit of work: ≈1 ms at ≈4 ns per round (optimised, 2020s x86-64).
pub const ROUNDS_PER_WORK: u64 = 1 << 18;

/// Body of `POST /api/quiz/grade`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRequest {
    /// The chosen option of each question, in order.
    pub answers: Vec<u32>,
    #[serde(default = "default_work")]
    pub work: u32,
    /// The course the quiz belongs to, recorded with the attempt.
    #[serde(default)]
    pub course: Option<u32>,
}

fn default_work() -> u32 {
    1
}

/// The grading of one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    pub score: u32,
    pub total: u32,
    /// 16 hex digits, derived from the answers, the work and every mixing round.
    pub checksum: String,
}

/// Why a submission cannot be graded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GradeError {
    #[error("`work` is {0}; it must be between 0 and {MAX_WORK}")]
    TooMuchWork(u32),
    #[error("{given} answers for a quiz of {total} questions; send at most one per question")]
    TooManyAnswers { given: usize, total: usize },
}

/// Grades `req`, burning `req.work` units of CPU. Blocking: call it off the async workers.
pub fn grade(req: &GradeRequest) -> Result<Grade, GradeError> {
    if req.work > MAX_WORK {
        return Err(GradeError::TooMuchWork(req.work));
    }
    if req.answers.len() > ANSWER_KEY.len() {
        return Err(GradeError::TooManyAnswers {
            given: req.answers.len(),
            total: ANSWER_KEY.len(),
        });
    }
    let score = req
        .answers
        .iter()
        .zip(ANSWER_KEY)
        .filter(|(a, k)| **a == *k)
        .count() as u32;
    let mut state = [
        0x6a09_e667_f3bc_c908,
        0xbb67_ae85_84ca_a73b,
        0x3c6e_f372_fe94_f82b,
        u64::from(req.work),
    ];
    for (i, a) in req.answers.iter().enumerate() {
        round(&mut state, (i as u64) << 32 | u64::from(*a));
    }
    let rounds = u64::from(req.work) * ROUNDS_PER_WORK;
    for i in 0..rounds {
        round(&mut state, i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
    Ok(Grade {
        score,
        total: ANSWER_KEY.len() as u32,
        checksum: format!("{:016x}", state[0] ^ state[1] ^ state[2] ^ state[3]),
    })
}

/// One SHA-512-style round on a four-word state: Σ rotations, choose, majority.
#[inline(always)]
fn round(s: &mut [u64; 4], k: u64) {
    let [a, b, c, d] = *s;
    let sigma1 = a.rotate_right(14) ^ a.rotate_right(18) ^ a.rotate_right(41);
    let choose = (a & b) ^ (!a & c);
    let t1 = d.wrapping_add(sigma1).wrapping_add(choose).wrapping_add(k);
    let sigma0 = b.rotate_right(28) ^ b.rotate_right(34) ^ b.rotate_right(39);
    let majority = (a & b) ^ (a & c) ^ (b & c);
    *s = [t1.wrapping_add(sigma0).wrapping_add(majority), a, b, c ^ t1];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(answers: &[u32], work: u32) -> GradeRequest {
        GradeRequest {
            answers: answers.to_vec(),
            work,
            course: None,
        }
    }

    #[test]
    fn scores_against_the_key() {
        assert_eq!(grade(&req(&ANSWER_KEY, 0)).unwrap().score, 10);
        assert_eq!(grade(&req(&[1, 0, 0], 0)).unwrap().score, 2);
        let g = grade(&req(&[], 0)).unwrap();
        assert_eq!((g.score, g.total), (0, 10));
    }

    #[test]
    fn the_checksum_depends_on_answers_and_work_and_nothing_else() {
        let a = grade(&req(&[1, 2], 1)).unwrap().checksum;
        assert_eq!(a.len(), 16);
        assert_eq!(a, grade(&req(&[1, 2], 1)).unwrap().checksum);
        assert_ne!(a, grade(&req(&[2, 1], 1)).unwrap().checksum);
        assert_ne!(a, grade(&req(&[1, 2], 2)).unwrap().checksum);
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(
            grade(&req(&[], MAX_WORK + 1)),
            Err(GradeError::TooMuchWork(1001))
        );
        assert!(matches!(
            grade(&req(&[0; 11], 0)),
            Err(GradeError::TooManyAnswers {
                given: 11,
                total: 10
            })
        ));
        let parsed: GradeRequest = serde_json::from_str(r#"{"answers":[1]}"#).unwrap();
        assert_eq!(parsed.work, 1, "work defaults to 1");
        assert!(serde_json::from_str::<GradeRequest>(r#"{"answers":"x"}"#).is_err());
    }
}
