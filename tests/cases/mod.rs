mod plan;
mod plan_errors;
mod sandbox;
