//! The controller Lambda (`provided.al2023`): everything happens in [`breaker::handler::run`].

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    breaker::handler::run().await
}
