from mix_assets.cli import main

raise SystemExit(main())
