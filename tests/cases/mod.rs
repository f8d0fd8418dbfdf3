mod crash;
mod plan;
mod plan_errors;
mod render;
mod sandbox;
