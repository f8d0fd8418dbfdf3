//! What a render delivers: the cut, the timeline, the review page and what a director does there.

pub mod assemble;
pub mod review;
