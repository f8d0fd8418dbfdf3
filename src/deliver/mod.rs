//! What a render delivers: the cut, the timeline, the review page and what a director does there.

pub(crate) mod assemble;
pub(crate) mod review;
