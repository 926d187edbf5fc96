"""`polyzoo train RECIPE`: run a zoo recipe from models/ and store the entry it produces."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="run a training recipe from models/ (resumable) and add it to the zoo",
        description="Run a recipe (a module of models/, importable as polyzoo.recipes.NAME, "
                    "or a path to a .py file of your own). Checkpoints are "
                    "written under data/runs/NAME/ as training goes; re-running the same "
                    "command after an interruption resumes from the last one.")
    p.add_argument("recipe", help="recipe name (vit_fashion_poly), the entry it trains "
                   "(vit-fashion-poly) or path to a .py file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true",
                   help="train 1%% of each stage's steps and print the metrics (stores nothing)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import json

    from polyzoo.zoo import recipe as recipe_lib
    from polyzoo.zoo import training

    recipe = recipe_lib.load_recipe(args.recipe)
    out = training.run(recipe, progress=not args.no_progress,
                       steps_scale=0.01 if args.dry_run else 1.0)
    print(json.dumps({"name": recipe.name, "metrics": out["metrics"]}, indent=2))
    if not args.dry_run:
        from polyzoo.zoo import card

        print(f"model card: {card.write(recipe.name)}")
    return 0
