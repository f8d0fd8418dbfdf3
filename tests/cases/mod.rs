mod plan;
mod plan_errors;
